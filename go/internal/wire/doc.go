// Package wire is the port protocol between the Erlang port owner
// (erlang/src/epmd_docker_helper.erl) and the epmd-docker helper in port mode.
// This comment is the one place the protocol is written down; the Erlang side
// points here.
//
// # Framing
//
// Both directions use Erlang's {packet,4} framing: a 4-byte big-endian length,
// then that many bytes of body. A body longer than MaxFrame (64 KiB) is never
// read into memory: the helper discards it and logs one line. The port owner
// undoes the framing itself rather than leaving it to the port driver, which
// would allocate whatever a length prefix declares: it takes a reply longer
// than 16 MiB for a helper that wrote something other than a frame (a stray
// line on stdout), and kills and restarts it.
//
// # Grammar
//
// Every body is term_to_binary/1 of a 2-tuple whose first element is a tag
// chosen by the Erlang side and echoed back unchanged, so replies may come out
// of order and are matched by tag:
//
//	Request   = {Tag, Command}
//	Reply     = {Tag, Answer}
//	Tag       = 0..(2^32 - 1)
//
//	Command   = ping
//	          | {resolve, Host :: binary(), Family}
//	          | list
//	Family    = inet | inet6
//
//	ping                     -> {pong, Version :: binary()}
//	{resolve, Host, Family}  -> {ok, Ip} | {ok, Ip, Port} | {error, Reason}
//	list                     -> {ok, [Container]} | {error, Reason}
//
//	Ip        = {A,B,C,D} | {A,B,C,D,E,F,G,H}   (inet:ip_address())
//	Port      = 1..65535
//	Container = {Id :: binary(), Name :: binary(), Hostname :: binary(), Ip | none}
//	Reason    = not_found           no running container answers to Host
//	          | {ambiguous, [binary()]}
//	                                several do; each binary is "name (shortid)"
//	          | no_address          the container has no address of that family
//	          | not_published       it is to be reached through a published
//	                                port, and publishes no distribution port
//	          | docker_unavailable  the Docker daemon cannot be reached
//	          | timeout             Docker did not answer in time
//	          | bad_host            Host is empty, too long, or not a hostname
//	          | bad_request         the command is not one of the above
//
// {ok, Ip} means: ask the epmd at Ip for the node's port. {ok, Ip, Port}
// means: dial Ip:Port directly, skipping epmd (address_please/3 answers
// {ok, Ip, Port, 6}); the helper sends it for a container reached through
// its published distribution port, when its own address is not routable
// from here (EPMD_DOCKER_MODE; see go/internal/reach). Ip and Port are then
// the binding's host side.
//
// Every atom the helper sends appears in this grammar, and the Erlang side
// decodes with binary_to_term(B, [safe]), so it never creates atoms.
//
// A body whose Tag cannot be read (not ETF, truncated, not a 2-tuple with an
// integer tag) is logged on stderr and skipped. The helper exits when its
// stdin closes.
package wire
