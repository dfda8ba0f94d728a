//go:build !linux

package main

// hideArg does nothing where argv cannot be rewritten in place.
func hideArg(string) {}

// removeOnceRead cannot tell when the file is read here: the caller
// removes it when erl exits.
func removeOnceRead(file string, gone func()) (stop func()) { return func() {} }
