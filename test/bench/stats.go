package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// series is a set of timings, sorted.
type series []time.Duration

func newSeries(ds []time.Duration) series {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}

// add returns s with more timings, still sorted.
func (s series) add(more []time.Duration) series {
	return newSeries(append(slices.Clone([]time.Duration(s)), more...))
}

// pct is the nearest-rank percentile p (0 < p <= 100): the smallest timing
// that at least p % of them do not exceed. With few samples the 99th is the
// largest.
func (s series) pct(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (s series) median() time.Duration { return s.pct(50) }
func (s series) p99() time.Duration    { return s.pct(99) }

// parseNanos reads the {ok,[N1,N2,...]} that the Erlang bench module
// prints for a run of timings in nanoseconds.
func parseNanos(term string) ([]time.Duration, error) {
	body, ok := strings.CutPrefix(term, "{ok,[")
	if ok {
		body, ok = strings.CutSuffix(body, "]}")
	}
	if !ok {
		return nil, fmt.Errorf("bench node answered %s", shorten(term, 300))
	}
	if body == "" {
		return nil, nil
	}
	fields := strings.Split(body, ",")
	out := make([]time.Duration, len(fields))
	for i, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bench node answered %s: %v", shorten(term, 300), err)
		}
		out[i] = time.Duration(n)
	}
	return out, nil
}

// human prints a duration with three significant digits in the unit that
// suits it.
func human(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%.2f µs", float64(d)/1e3)
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + " µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + " ms"
	}
	return sig3(float64(d)/1e9) + " s"
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// times says how a timing compares with a baseline's: "540× faster than
// 1b", "1.04× slower than 3b" (two decimals where close, none where far).
func times(d, base time.Duration, baseID string) string {
	if d <= 0 || base <= 0 {
		return ""
	}
	r := float64(base) / float64(d)
	word := "faster"
	if r < 1 {
		r, word = 1/r, "slower"
	}
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f× %s than %s", r, word, baseID)
	case r >= 10:
		return fmt.Sprintf("%.1f× %s than %s", r, word, baseID)
	}
	return fmt.Sprintf("%.2f× %s than %s", r, word, baseID)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
