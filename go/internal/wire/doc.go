// Package wire is the port protocol between the Erlang port owner
// (erlang/src/epmd_docker_helper.erl) and the epmd-docker helper in port mode.
// This comment is the one place the protocol is written down; the Erlang side
// points here.
//
// # Framing
//
// Both directions use Erlang's {packet,4} framing: a 4-byte big-endian length,
// then that many bytes of body. A length prefix over MaxFrame (64 KiB) means
// the stream is corrupt (no request comes near that size, so the owner did
// not write it, and the frames after it cannot be found): the helper reads
// nothing more, logs one line and exits at once with status 65. The port owner
// undoes the framing itself rather than leaving it to the port driver, which
// would allocate whatever a length prefix declares: it takes a reply longer
// than 16 MiB for a helper that wrote something other than a frame (a stray
// line on stdout), and kills and restarts it.
//
// # Grammar
//
// The protocol has a version, Protocol below (now 2), that both sides check:
// the port owner asks ping first and refuses a helper whose pong carries no
// protocol number (protocol 1, before pushes) or a different one.
//
// Every body is term_to_binary/1 of a 2-tuple. A request's first element is
// a tag chosen by the Erlang side and echoed back unchanged in its reply, so
// replies may come out of order and are matched by tag. The helper also
// sends pushes, unsolicited, whose first element is the atom push:
//
//	Request   = {Tag, Command}
//	Reply     = {Tag, Answer}
//	Push      = {push, Event}
//	Tag       = 0..(2^32 - 1)
//
//	Command   = ping
//	          | {resolve, Host :: binary(), Family}
//	          | list
//	          | nodes
//	Family    = inet | inet6
//
//	ping                     -> {pong, Version :: binary(), Protocol :: pos_integer()}
//	{resolve, Host, Family}  -> {ok, Ip} | {ok, Ip, Port} | {error, Reason}
//	list                     -> {ok, [Container]} | {error, Reason}
//	nodes                    -> {ok, [Node :: binary()]} | {error, Reason}
//
//	Ip        = {A,B,C,D} | {A,B,C,D,E,F,G,H}   (inet:ip_address())
//	Port      = 1..65535
//	Container = {Id :: binary(), Name :: binary(), Hostname :: binary(), Ip | none}
//	            (for a pod: its UID, POD.NAMESPACE, its hostname, its address)
//	Node      = <<"name@host">>, the node names to dial, found the way the
//	            node is reached (the container's epmd, or the start of a
//	            distribution handshake on a published port or a tunnel);
//	            only valid node names, at most 64 per container
//	Reason    = not_found           no running container answers to Host (nor
//	                                a pod of the kubeconfig's current context)
//	          | {ambiguous, [binary()]}
//	                                several do; each binary is "name (shortid)",
//	                                "name (on node NODE)" for a Swarm task
//	                                on another node, or "POD.NAMESPACE (pod)"
//	          | no_address          the container has no address of that family
//	          | not_published       it is to be reached through a published
//	                                port, and publishes no distribution port
//	          | docker_unavailable  the Docker daemon cannot be reached
//	          | timeout             Docker did not answer in time
//	          | bad_host            Host is empty, too long, or not a hostname
//	          | bad_request         the command is not one of the above
//
//	Event     = {stream, up}        the helper follows Docker's events: every
//	                                later change to what a name resolves to
//	                                will be pushed
//	          | {stream, down}      it does not (the stream broke or stalled,
//	                                or the daemon is gone); until the next
//	                                {stream, up}, nothing may be answered
//	                                from a copy of earlier replies
//	          | {invalidate, all}   forget every earlier reply
//	          | {invalidate, [Host :: binary()]}
//	                                forget the earlier replies for these hosts
//	                                (lowercase, without a trailing dot)
//	          | {fatal, Message :: binary()}
//	                                the helper cannot run as configured (a bad
//	                                setting, named in Message, a sentence for
//	                                people); it exits with status 78 next
//
// Every reply is an endpoint. {ok, Ip} means: ask the epmd at Ip for the
// node's port. {ok, Ip, Port} means: dial Ip:Port directly, skipping epmd
// (address_please/3 answers {ok, Ip, Port, 6}); the helper sends it for a
// container reached through a published distribution port or a tunnel, when
// its own address is not routable from here (EPMD_DOCKER_MODE; see
// go/internal/reach), and for a Kubernetes pod reached through a
// port-forward (the local end; go/internal/kube).
//
// # Copies of replies, and why they are never stale
//
// The port owner keeps the {ok, ...} replies to resolve in an ETS table that
// callers read without asking it. It keeps them only between a {stream, up}
// and the next {stream, down}, and drops them when an invalidate says so. The
// helper sends {stream, up} only once it is subscribed to Docker's events and
// its own view is current, and it sends an invalidate only after its own
// answers reflect the change, so that every reply it writes after the push
// comes from the new state. Frames are written in order by one writer. A
// reply to a request sent before an invalidate reached the owner may predate
// it: the owner hands such a reply to its caller but does not keep it. The
// helper also resynchronises with Docker periodically and pushes what
// changed, so a stream that stays open but falls silent goes stale for a few
// seconds at most.
//
// # Settings the port owner passes on
//
// The owner starts the helper with EPMD_DOCKER_TIMEOUT set to its own
// request timeout in milliseconds; the helper answers every request within
// it (less a margin), with {error, timeout} if need be.
//
// # Exit statuses of port mode
//
//	0    stdin closed
//	65   the input is corrupt beyond resynchronisation (a length prefix over
//	     MaxFrame): the owner restarts the helper at once
//	78   cannot run as configured (after a {fatal, Message} push): the owner
//	     logs Message once and does not restart the helper for it
//
// Every atom the helper sends appears in this grammar, and the Erlang side
// decodes with binary_to_term(B, [safe]), so it never creates atoms. The
// Erlang side never raises on what the helper sends: a reply or push of any
// other shape is logged once and dropped.
//
// A body whose Tag cannot be read (not ETF, truncated, not a 2-tuple with an
// integer tag) is logged on stderr and skipped. The helper exits when its
// stdin closes.
package wire
