%% The port owner: one process that runs the epmd-docker helper in port mode,
%% sends it tagged requests, hands each reply to the caller that asked, and
%% keeps the helper's answers in a table that callers read themselves. The
%% wire protocol, pushes and exit statuses included, is written down in
%% go/internal/wire/doc.go; the shapes are encoded and checked in
%% epmd_docker_wire.
%%
%% This process is started by epmd_docker:start_link/0 under net_sup, which
%% is one_for_all with zero restarts: if it crashed, distribution would go
%% down with it. So it never crashes on anything the helper does or callers
%% pass. A dead helper is restarted here, with backoff (at once when it says
%% its input was corrupt), and callers get {error, Reason} meanwhile; a helper
%% that owes an answer and has sent nothing for ?HUNG_AFTER, or writes
%% something that is not a frame, is killed and restarted; a missing helper,
%% one that cannot be executed, one that says it cannot run as configured,
%% and one that speaks another protocol are logged once, and callers get
%% {error, helper_unavailable} at once so that ordinary host names still
%% resolve through the fallback in epmd_docker. Replies are decoded without
%% creating atoms, and their length is capped (see handle_data/2).
%%
%% Warm answers come from memory. The owner keeps the {ok, ...} replies to
%% resolve in an ETS table named like the owner (protected, read
%% concurrently): callers look there first, in their own process, and only
%% a miss becomes a call (ranch_server's pattern: writes by the owner only,
%% reads never through it). It keeps rows only while the helper says its
%% event stream is up, drops them when the helper pushes an invalidation,
%% and never keeps a reply to a request sent before the latest push (the
%% epoch below), so the table is never staler than the helper itself; rows
%% also expire after EPMD_DOCKER_TTL, as a safety net. See doc.go, "Copies
%% of replies".
%%
%% A lookup holds net_kernel while it runs (select/1 calls address_please/3
%% inside net_kernel up to OTP 27.3/28.0), so its time is bounded: requests
%% time out after timeout/0, which is kept well below net_setuptime; once a
%% request has timed out the helper counts as unresponsive and requests fail
%% at once with unresponsive while a ping probes it in the background; and
%% a burst of lookups queues (bounded: see send/4) rather than failing.
%%
%% It starts during boot, before the file server and standard_error run (OTP
%% 25): init/1 does no file I/O and reads its settings from os:getenv/1 and
%% init:get_argument/1 only, and the port is opened after init/1 returns, so
%% boot never waits for Docker.
-module(epmd_docker_helper).
-behaviour(gen_server).

%% Starting and stopping
-export([start_link/0]).
-export([start_link/1]).
-export([start/1]).
-export([stop/1]).

%% Requests
-export([request/1]).
-export([request/3]).

%% Settings and state
-export([timeout/0]).
-export([setup_time/0]).
-export([status/1]).

%% gen_server callbacks
-export([init/1]).
-export([handle_continue/2]).
-export([handle_call/3]).
-export([handle_cast/2]).
-export([handle_info/2]).
-export([terminate/2]).
-export([code_change/3]).

-export_type([options/0]).

-include_lib("kernel/include/logger.hrl").
-include_lib("kernel/include/file.hrl").

-define(DEFAULT_TIMEOUT, 2000).
-define(MAX_TIMEOUT, 60000).
%% EPMD_DOCKER_TIMEOUT is capped at this fraction of net_setuptime: a
%% lookup must leave the connection setup most of its time.
-define(SETUP_SHARE, 3).
%% How much longer a caller waits than the owner's own request timer, so the
%% owner's {error, timeout} normally arrives before gen_server:call gives up.
-define(CALL_MARGIN, 500).
-define(MIN_BACKOFF, 100).
-define(MAX_BACKOFF, 10000).
%% A helper that stayed up this long counts as healthy: backoff starts over.
-define(STABLE_AFTER, 30000).
%% A helper that has owed an answer for this long without sending anything
%% at all is hung: restart it. Measured from the oldest request it has not
%% answered since it last sent a frame, not from its last frame: a helper
%% idle for minutes owes nothing, and the helper answers {error, timeout}
%% itself when Docker is slow, so a live one is never taken for a hung one.
-define(HUNG_AFTER, 5000).
%% While the helper is unresponsive, it is pinged this often.
-define(PROBE_EVERY, 500).
%% The handshake ping goes out this long after the port opens, or with the
%% first request if that comes sooner: a helper that cannot be executed at
%% all exits first, and its exit status says why (see exec_failed/2).
-define(HANDSHAKE_AFTER, 200).
%% A missing helper is retried on demand at most this often.
-define(RETRY_ON_DEMAND, 1000).
%% A helper that exits this soon after it was started, before it sent
%% anything, with the status erl_child_setup gives a failed exec (the
%% errno), or that closed its stdin, could not be run at all: it is treated
%% like a missing one.
-define(EXEC_FAILED_WITHIN, 5000).
%% The longest reply accepted. Replies are framed {packet,4}, but the
%% framing is undone here rather than by the port driver: the driver
%% allocates whatever a length prefix declares (up to 4 GiB) and then waits
%% for that many bytes, so a helper that wrote anything but a frame (a stray
%% line on stdout) would cost gigabytes and swallow every later reply. A
%% list of a thousand containers is about 150 KiB.
-define(MAX_REPLY, (16 * 1024 * 1024)).
%% The bounds of the queue of requests: requests waiting for an answer, and
%% bytes written to the port that the helper has not read yet. Over either,
%% a request fails at once with overloaded.
-define(MAX_PENDING, 20000).
-define(MAX_QUEUED, (4 * 1024 * 1024)).
-define(DEFAULT_TTL, 30000).
%% Exit statuses of port mode (doc.go).
-define(EXIT_CORRUPT, 65).
-define(EXIT_CONFIG, 78).
%% The table row holding the request timeout, so callers need not ask init.
-define(SETTINGS, '$settings').

-type options() :: #{name => atom() | none,
                     helper => file:filename(),
                     network => string(),
                     open => eager | lazy}.
-type status() :: idle | starting | up | down | unavailable.
%% A program that could not be run and why; {none, no_helper} when there
%% was no program to try.
-type failure() :: {file:filename(), term()} | {none, no_helper}.
%% Spelled out: gen_server's own types for these are not in every release.
-type server() :: pid() | atom().
-type from() :: {pid(), term()}.
%% Who waits for a reply: a caller, or the owner itself.
-type waiter() :: from() | handshake | probe.

-record(pending, {
          waiters :: [waiter()],
          command :: epmd_docker_wire:command(),
          timer :: reference(),
          epoch :: non_neg_integer()              % the epoch it was sent in
         }).

-record(state, {
          helper :: file:filename() | undefined,  % path override, if any
          network :: string() | undefined,
          timeout :: pos_integer(),               % request timeout, ms
          ttl :: non_neg_integer(),               % row lifetime, ms
          table :: ets:tab(),
          status = starting :: status(),
          port :: port() | undefined,
          os_pid :: non_neg_integer() | undefined, % the port's process
          path :: file:filename() | undefined,    % what the port runs
          tag = 0 :: epmd_docker_wire:tag(),
          pending = #{} :: #{epmd_docker_wire:tag() => #pending{}},
          %% Resolves in flight, so that a burst for one name is one request.
          inflight = #{} :: #{epmd_docker_wire:command() =>
                                  epmd_docker_wire:tag()},
          backoff = ?MIN_BACKOFF :: pos_integer(),
          up_since = 0 :: integer(),
          last_attempt = 0 :: integer(),
          reopen :: reference() | undefined,      % the one pending reopen
          %% Since when the helper owes an answer without having sent
          %% anything (see ?HUNG_AFTER).
          owed_since :: integer() | undefined,
          unresponsive = false :: boolean(),
          probe :: reference() | undefined,
          handshake = due :: due | reference() | sent,
          protocol :: pos_integer() | undefined,  % from the helper's pong
          %% The helper's event stream, and a count of the pushes that
          %% changed what may be kept.
          stream = down :: up | down,
          epoch = 0 :: non_neg_integer(),
          buffer = <<>> :: binary(),              % the start of a frame
          answered = false :: boolean(),          % sent a frame since opened
          restarts = 0 :: non_neg_integer(),
          garbage_logged = false :: boolean(),
          %% Why the helper could not be run: not yet in the log, and
          %% already in it since a helper last completed the handshake.
          untold = [] :: [failure()],
          told = [] :: [failure()]
         }).

%% Starting and stopping

%% The port owner for this node, registered as epmd_docker_helper, as
%% net_sup starts it: the helper is run at the first request, not at boot,
%% so that a node that never looks up a container pays nothing for it and
%% boot does not share the cores with the helper's start.
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    start_link(#{open => lazy}).

%% Options are for tests and embedding: name (none for an unregistered
%% owner, whose table callers do not read), helper (the program to run),
%% network (EPMD_DOCKER_NETWORK for the helper) and open (eager, the
%% default here, runs the helper at once; lazy at the first request).
%% Unset options come from flags and the environment.
-spec start_link(options()) -> {ok, pid()} | ignore | {error, term()}.
start_link(Options) ->
    case maps:get(name, Options, ?MODULE) of
        none -> gen_server:start_link(?MODULE, Options, []);
        Name -> gen_server:start_link({local, Name}, ?MODULE, Options, [])
    end.

%% Like start_link/1 but unlinked, for an owner started on demand.
-spec start(options()) -> {ok, pid()} | ignore | {error, term()}.
start(Options) ->
    case maps:get(name, Options, ?MODULE) of
        none -> gen_server:start(?MODULE, Options, []);
        Name -> gen_server:start({local, Name}, ?MODULE, Options, [])
    end.

-spec stop(server()) -> ok.
stop(Server) ->
    gen_server:stop(Server).

%% Requests

%% Asks this node's helper, starting the port owner if nothing started it
%% (a node without -epmd_module epmd_docker can still use the public API).
%% A warm resolve is answered from the table, in the caller. Never raises;
%% always returns within timeout() plus a small margin.
-spec request(epmd_docker_wire:command()) -> epmd_docker_wire:answer().
request(Command) ->
    case cached(?MODULE, Command) of
        {ok, Answer} ->
            Answer;
        miss ->
            _ = case whereis(?MODULE) of
                    undefined -> start(#{});
                    _ -> ok
                end,
            call(?MODULE, Command, timeout())
    end.

%% Timeout is clamped to 1..60000 ms (anything else, such as infinity, means
%% timeout/0): a timer or a receive with a larger one raises.
-spec request(server(), epmd_docker_wire:command(),
              timeout()) -> epmd_docker_wire:answer().
request(Server, Command, Timeout) ->
    Cached = case is_atom(Server) of
                 true -> cached(Server, Command);
                 false -> miss
             end,
    case Cached of
        {ok, Answer} -> Answer;
        miss -> call(Server, Command, clamp(Timeout))
    end.

call(Server, Command, Timeout) ->
    try
        gen_server:call(Server, {request, Command, Timeout},
                        Timeout + ?CALL_MARGIN)
    catch
        exit:{timeout, _} -> {error, timeout};
        exit:_ -> {error, helper_down}
    end.

%% Settings and state

%% The request timeout in milliseconds: -epmd_docker_timeout, else
%% EPMD_DOCKER_TIMEOUT, else 2000; at most a third of net_setuptime.
-spec timeout() -> pos_integer().
timeout() ->
    try ets:lookup(?MODULE, ?SETTINGS) of
        [{?SETTINGS, Timeout}] -> Timeout;
        _ -> configured_timeout()
    catch
        error:badarg -> configured_timeout()
    end.

%% What the owner is doing, for tests and for people debugging a node.
%% os_pid is the helper's operating system process, while one runs; cached
%% the number of answers in the table; pending counts requests to the
%% helper, waiting the callers waiting for them (several callers asking for
%% one name share a request).
-spec status(server()) ->
          #{status := status(), path := file:filename() | undefined,
            pending := non_neg_integer(), restarts := non_neg_integer(),
            os_pid := non_neg_integer() | undefined,
            stream := up | down, cached := non_neg_integer(),
            waiting := non_neg_integer(),
            unresponsive := boolean(),
            protocol := pos_integer() | undefined} |
          {error, helper_down}.
status(Server) ->
    try
        gen_server:call(Server, status, ?DEFAULT_TIMEOUT)
    catch
        exit:_ -> {error, helper_down}
    end.

%% gen_server callbacks

-spec init(options()) -> {ok, #state{}} | {ok, #state{}, {continue, open}}.
init(Options) ->
    %% Linked to the port: a port that dies must become a message, not our
    %% death.
    process_flag(trap_exit, true),
    Helper = case maps:find(helper, Options) of
                 {ok, Path} -> Path;
                 error -> setting(epmd_docker_helper, "EPMD_DOCKER_HELPER")
             end,
    Network = case maps:find(network, Options) of
                  {ok, Net} -> Net;
                  error -> setting(epmd_docker_network, undefined)
              end,
    Timeout = configured_timeout(),
    Table = new_table(maps:get(name, Options, ?MODULE)),
    true = ets:insert(Table, {?SETTINGS, Timeout}),
    State = #state{helper = Helper, network = Network, timeout = Timeout,
                   ttl = ttl(env("EPMD_DOCKER_TTL")), table = Table},
    case maps:get(open, Options, eager) of
        lazy -> {ok, State#state{status = idle}};
        _ -> {ok, State, {continue, open}}
    end.

-spec handle_continue(open, #state{}) -> {noreply, #state{}}.
handle_continue(open, State) ->
    {noreply, open(State)}.

-spec handle_call(term(), from(), #state{}) ->
          {reply, term(), #state{}} | {noreply, #state{}}.
handle_call({request, Command, Timeout}, From, State) ->
    handle_request(Command, clamp_here(Timeout, State), From, State);
handle_call(status, _From, State) ->
    #state{status = Status, path = Path, pending = Pending,
           restarts = Restarts, os_pid = OsPid, stream = Stream,
           unresponsive = Unresponsive, protocol = Protocol,
           table = Table} = State,
    {reply, #{status => Status, path => Path, pending => map_size(Pending),
              restarts => Restarts, os_pid => OsPid, stream => Stream,
              cached => max(0, ets:info(Table, size) - 1),
              waiting => lists:sum([length([W || W <- Ws, is_tuple(W)])
                                    || #pending{waiters = Ws} <- maps:values(Pending)]),
              unresponsive => Unresponsive, protocol => Protocol}, State};
handle_call(_Unknown, _From, State) ->
    {reply, {error, bad_request}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Unknown, State) ->
    {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info({Port, {data, Bytes}}, #state{port = Port} = State) ->
    {noreply, handle_data(Bytes, State)};
handle_info({Port, {exit_status, Status}}, #state{port = Port} = State) ->
    {noreply, port_down({exit_status, Status}, State)};
handle_info({'EXIT', Port, Reason}, #state{port = Port} = State) ->
    %% The port failed (epipe: the helper closed its stdin) but the helper
    %% may well run on: no exit status came.
    {noreply, port_down(Reason, abandon(State))};
handle_info({timeout, Timer, {request_timeout, Tag}}, State) ->
    {noreply, request_timeout(Tag, Timer, State)};
handle_info({timeout, Timer, reopen}, #state{reopen = Timer} = State) ->
    {noreply, open(State#state{reopen = undefined})};
handle_info({timeout, Timer, handshake}, #state{handshake = Timer} = State) ->
    {noreply, handshake(State)};
handle_info({timeout, Timer, probe}, #state{probe = Timer} = State) ->
    {noreply, probe(State#state{probe = undefined})};
handle_info(_Stale, State) ->
    %% Exits of ports we already gave up on, timers of answered requests.
    {noreply, State}.

-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{unresponsive = false, owed_since = undefined,
                          port = Port}) ->
    %% A helper that owes nothing exits when its stdin closes: no kill(1),
    %% whose fork would only slow down the node's stop.
    close(Port);
terminate(_Reason, State) ->
    %% One that may hang is killed; nobody will read its answers now, so it
    %% is not waited for either way.
    _ = abandon(State),
    ok.

-spec code_change(term(), #state{}, term()) -> {ok, #state{}}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%% The table of answers

new_table(none) ->
    ets:new(?MODULE, [set, protected, {read_concurrency, true}]);
new_table(Name) ->
    ets:new(Name, [named_table, set, protected, {read_concurrency, true}]).

%% Read in the caller's process. The table is missing while no owner runs
%% (or one restarts): that is a miss, never an exception.
cached(Table, {resolve, Host, Family}) ->
    try ets:lookup(Table, key(Host, Family)) of
        [{_, Answer, Expires}] ->
            case now_ms() < Expires of
                true -> {ok, Answer};
                false -> miss
            end;
        _ ->
            miss
    catch
        error:_ -> miss
    end;
cached(_Table, _Command) ->
    miss.

%% Host names are case-insensitive, and a trailing dot names the same host;
%% the helper's invalidations name hosts in this form (doc.go).
key(Host, Family) ->
    {normal_host(Host), Family}.

normal_host(Host) when is_binary(Host) ->
    Lower = << <<(lower(C))>> || <<C>> <= Host >>,
    case byte_size(Lower) of
        N when N > 0, binary_part(Lower, N - 1, 1) =:= <<".">> ->
            binary_part(Lower, 0, N - 1);
        _ ->
            Lower
    end;
normal_host(Host) ->
    Host.

lower(C) when C >= $A, C =< $Z -> C + 32;
lower(C) -> C.

%% Kept only if the stream was up and no push came between the request and
%% its reply: a reply to a request sent before an invalidation may predate
%% it.
keep({resolve, Host, Family}, Answer, Epoch,
     #state{stream = up, epoch = Epoch, ttl = Ttl, table = Table} = State)
  when Ttl > 0, element(1, Answer) =:= ok ->
    true = ets:insert(Table, {key(Host, Family), Answer, now_ms() + Ttl}),
    State;
keep(_Command, _Answer, _Epoch, State) ->
    State.

%% Every row but the settings, and a new epoch.
forget_all(#state{table = Table, epoch = Epoch} = State) ->
    true = ets:match_delete(Table, {{'_', '_'}, '_', '_'}),
    State#state{epoch = Epoch + 1}.

forget(Hosts, #state{table = Table, epoch = Epoch} = State) ->
    lists:foreach(fun(Host) ->
                          true = ets:delete(Table, key(Host, inet)),
                          true = ets:delete(Table, key(Host, inet6))
                  end, Hosts),
    State#state{epoch = Epoch + 1}.

%% Requests

handle_request(Command, Timeout, From, State0) ->
    %% The caller missed the table, but a reply may have been kept since
    %% it looked: a burst for one name is answered here, without the port.
    case cached(State0#state.table, Command) of
        {ok, Answer} ->
            {reply, Answer, State0};
        miss ->
            State = maybe_retry(open_if_idle(State0)),
            case State#state.status of
                up when State#state.unresponsive ->
                    {reply, {error, unresponsive}, State};
                up ->
                    case ask(Command, Timeout, From, handshake_now(State)) of
                        {ok, Asked} -> {noreply, Asked};
                        {error, Reason, Failed} -> {reply, {error, Reason}, Failed}
                    end;
                unavailable ->
                    {reply, {error, helper_unavailable}, tell(State)};
                _ ->
                    {reply, {error, helper_down}, State}
            end
    end.

%% A lazy owner runs its helper for the first request.
open_if_idle(#state{status = idle} = State) ->
    open(State);
open_if_idle(State) ->
    State.

%% A helper that was missing may have been built since: try again on demand,
%% but not more than once a second.
maybe_retry(#state{status = unavailable, last_attempt = Last} = State) ->
    case now_ms() - Last >= ?RETRY_ON_DEMAND of
        true -> open(State);
        false -> State
    end;
maybe_retry(State) ->
    State.

%% A resolve already in flight is joined, not sent again.
ask(Command, Timeout, Waiter,
    #state{inflight = Inflight, pending = Pending} = State) ->
    case Inflight of
        #{Command := Tag} when is_map_key(Tag, Pending) ->
            #{Tag := #pending{waiters = Waiters} = Entry} = Pending,
            Joined = Entry#pending{waiters = [Waiter | Waiters]},
            {ok, State#state{pending = Pending#{Tag := Joined}}};
        _ ->
            send(Command, Timeout, Waiter, State)
    end.

%% The queue of requests is the port's own: the port is opened with
%% busy_limits_port disabled, so a write never fails because the helper is
%% momentarily behind (with nosuspend, such a write failed, and a burst of
%% lookups got errors instead of answers). It is bounded here instead, by
%% the requests waiting and the bytes the helper has not read yet.
send(Command, Timeout, Waiter, State) ->
    #state{port = Port, tag = Tag, pending = Pending, inflight = Inflight,
           epoch = Epoch} = State,
    case map_size(Pending) >= ?MAX_PENDING orelse queued(Port) > ?MAX_QUEUED of
        true ->
            {error, overloaded, State};
        false ->
            Frame = epmd_docker_wire:encode(Tag, Command),
            %% {packet,4} by hand: see handle_data/2.
            %% A write to a port that is going away (it raised) is owed
            %% like one that went through: the port's exit message follows,
            %% and port_down/2 tells the waiters what it means (a helper
            %% that could not start at all is unavailable, not down).
            case write_port(Port, [<<(byte_size(Frame)):32>>, Frame]) of
                false ->
                    {error, overloaded, State};
                _WrittenOrClosing ->
                    Timer = erlang:start_timer(Timeout, self(),
                                               {request_timeout, Tag}),
                    Entry = #pending{waiters = [Waiter], command = Command,
                                     timer = Timer, epoch = Epoch},
                    Joinable = case Command of
                                   {resolve, _, _} -> Inflight#{Command => Tag};
                                   _ -> Inflight
                               end,
                    Owed = case State#state.owed_since of
                               undefined -> now_ms();
                               Since -> Since
                           end,
                    {ok, State#state{tag = (Tag + 1) band 16#FFFFFFFF,
                                     pending = Pending#{Tag => Entry},
                                     inflight = Joinable, owed_since = Owed}}
            end
    end.

%% An internal request (the handshake, a probe): its failure needs no reply.
send_own(Command, Waiter, Timeout, State) ->
    case send(Command, Timeout, Waiter, State) of
        {ok, Sent} -> Sent;
        {error, _, Unsent} -> Unsent
    end.

queued(Port) ->
    try erlang:port_info(Port, queue_size) of
        {queue_size, Bytes} when is_integer(Bytes) -> Bytes;
        _ -> 0
    catch
        error:_ -> 0
    end.

%% Splits what the helper wrote into {packet,4} frames. A length prefix over
%% ?MAX_REPLY means the stream is out of step for good: nothing later can be
%% trusted, so the helper is restarted at once instead of waiting to be
%% found silent.
handle_data(Bytes, #state{buffer = Buffer, port = Port} = State) ->
    frames(<<Buffer/binary, Bytes/binary>>, Port, State).

frames(<<Length:32, _/binary>>, _Port, State) when Length > ?MAX_REPLY ->
    port_down({bad_frame, Length}, abandon(State));
frames(<<Length:32, Frame:Length/binary, Rest/binary>>, Port, State0) ->
    case alive(handle_frame(Frame, State0)) of
        %% Still the same helper: a frame can make the owner give it up.
        #state{port = Port} = State -> frames(Rest, Port, State);
        State -> State
    end;
frames(Partial, _Port, State) ->
    State#state{buffer = Partial}.

handle_frame(Frame, State) ->
    case epmd_docker_wire:decode(Frame) of
        {ok, Tag, Answer} ->
            reply(Tag, Answer, State#state{answered = true});
        {push, Event} ->
            push(Event, State#state{answered = true});
        {error, garbage} ->
            garbage(Frame, State)
    end.

%% Whatever it sent, the helper lives: it owes nothing older than now.
alive(#state{pending = Pending, probe = Probe} = State) ->
    cancel_timer(Probe),
    State#state{unresponsive = false, probe = undefined,
                owed_since = case map_size(Pending) of
                                 0 -> undefined;
                                 _ -> now_ms()
                             end}.

reply(Tag, Answer, #state{pending = Pending, inflight = Inflight} = State0) ->
    case maps:take(Tag, Pending) of
        {#pending{waiters = Waiters, command = Command, timer = Timer,
                  epoch = Epoch}, Rest} ->
            cancel_timer(Timer),
            Checked = check(Command, Answer),
            State = keep(Command, Checked, Epoch,
                         State0#state{pending = Rest,
                                      inflight = maps:remove(Command, Inflight)}),
            lists:foldl(fun(Waiter, Acc) -> answer(Waiter, Checked, Acc) end,
                        State, Waiters);
        error ->
            %% The answer to a request that already timed out.
            State0
    end.

%% epmd_docker_wire:check/2 never raises; this is for a future change that
%% would, where a crash takes distribution down.
check(Command, Answer) ->
    try
        epmd_docker_wire:check(Command, Answer)
    catch
        _:_ -> {error, bad_reply}
    end.

answer(handshake, Answer, State) ->
    handshake_answer(Answer, State);
answer(probe, _Answer, State) ->
    State;
answer(From, Answer, State) ->
    gen_server:reply(From, Answer),
    State.

push(Event, State) ->
    case epmd_docker_wire:check_push(Event) of
        {ok, {stream, up}} ->
            (forget_all(State))#state{stream = up};
        {ok, {stream, down}} ->
            (forget_all(State))#state{stream = down};
        {ok, {invalidate, all}} ->
            forget_all(State);
        {ok, {invalidate, Hosts}} ->
            forget(Hosts, State);
        {ok, {fatal, Message}} ->
            %% It exits with 78 next; nothing it sends now matters.
            port_down({fatal, Message}, abandon(State));
        error ->
            garbage(term_to_binary(Event), State)
    end.

garbage(Frame, #state{garbage_logged = false} = State) ->
    ?LOG_WARNING("epmd_docker: ignored a ~b-byte frame from the helper "
                 "that is not a reply; later ones are not logged",
                 [byte_size(Frame)]),
    State#state{garbage_logged = true};
garbage(_Frame, State) ->
    State.

request_timeout(Tag, Timer, #state{pending = Pending} = State0) ->
    case maps:take(Tag, Pending) of
        {#pending{timer = Timer, waiters = Waiters, command = Command}, Rest} ->
            [gen_server:reply(W, {error, timeout}) || W <- Waiters,
                                                      is_tuple(W)],
            Inflight = case State0#state.inflight of
                           #{Command := Tag} = In -> maps:remove(Command, In);
                           In -> In
                       end,
            State = State0#state{pending = Rest, inflight = Inflight},
            %% A probe that times out changes nothing; the handshake has
            %% no timer of its own (see handshake/1).
            case lists:any(fun is_tuple/1, Waiters) of
                true -> check_hung(unresponsive(State));
                false -> check_hung(State)
            end;
        _ ->
            State0
    end.

%% The helper did not answer in time: it has no answer of its own to give
%% (it answers {error, timeout} itself within the timeout it was given), so
%% it is behind or hung. Until it sends anything, requests fail at once
%% rather than each holding its caller (and perhaps net_kernel) for a full
%% timeout, the table is not trusted, and a ping probes it.
unresponsive(#state{unresponsive = true} = State) ->
    State;
unresponsive(#state{status = up} = State) ->
    ?LOG_WARNING("epmd_docker: the helper ~ts did not answer a request in "
                 "time; lookups fail at once until it answers again",
                 [State#state.path]),
    Probe = erlang:start_timer(?PROBE_EVERY, self(), probe),
    (forget_all(State))#state{unresponsive = true, probe = Probe};
unresponsive(State) ->
    State.

probe(#state{status = up, unresponsive = true} = State0) ->
    State = send_own(ping, probe, ?PROBE_EVERY, State0),
    Probe = erlang:start_timer(?PROBE_EVERY, self(), probe),
    check_hung(State#state{probe = Probe});
probe(State) ->
    State.

%% The helper has owed an answer for long without a word: it hangs, and a
%% restart costs only its cache.
check_hung(#state{owed_since = undefined} = State) ->
    State;
check_hung(#state{owed_since = Since} = State) ->
    case now_ms() - Since of
        Silent when Silent >= ?HUNG_AFTER ->
            port_down({silent, Silent}, abandon(State));
        _ ->
            State
    end.

%% The handshake (doc.go: the protocol version): ping, and refuse a helper
%% whose pong has no protocol number or another one. Lookups go through
%% meanwhile; boot never waits for it.
handshake_now(#state{handshake = Timer} = State) when is_reference(Timer) ->
    cancel_timer(Timer),
    handshake(State);
handshake_now(State) ->
    State.

%% The handshake waits as long as a request can: a helper still starting
%% on a loaded machine answers late, and its answer must still be judged.
%% A helper that never answers is found hung (check_hung/1) all the same.
handshake(#state{status = up} = State) ->
    send_own(ping, handshake, ?MAX_TIMEOUT, State#state{handshake = sent});
handshake(State) ->
    State.

handshake_answer({pong, Version, Protocol}, State) ->
    case Protocol =:= epmd_docker_wire:protocol() of
        true ->
            compare_versions(State#state.path, Version),
            State#state{protocol = Protocol, told = []};
        false ->
            refuse({protocol, Protocol, Version}, State)
    end;
handshake_answer({pong, Version}, State) ->
    refuse({protocol, 1, Version}, State);
handshake_answer(_Error, State) ->
    State.

refuse(Why, State) ->
    port_down(Why, abandon(State)).

%% One warning when the helper was built from another version than this
%% application. In a process of its own: finding our version may ask the
%% code server and read the .app file, which the owner must not wait for.
compare_versions(Path, Theirs) ->
    _ = spawn(fun() ->
                      Ours = own_version(),
                      case comparable(Ours) andalso comparable(Theirs) andalso
                          plain(Ours) =/= plain(Theirs) of
                          true ->
                              ?LOG_WARNING("epmd_docker: the helper ~ts is version "
                                           "~ts, this epmd_docker is ~ts; rebuild the "
                                           "helper (make priv/epmd-docker) or point "
                                           "EPMD_DOCKER_HELPER at the matching one",
                                           [Path, Theirs, Ours]);
                          false ->
                              ok
                      end
              end),
    ok.

%% The application's vsn: from the application controller when the
%% application is loaded, else from the .app beside this module's beam,
%% read through erl_prim_loader (the boot loader, which needs no file
%% server).
own_version() ->
    try application:get_key(epmd_docker, vsn) of
        {ok, Vsn} -> Vsn;
        undefined -> app_file_version()
    catch
        _:_ -> undefined
    end.

app_file_version() ->
    try
        Beam = code:which(?MODULE),
        App = filename:join(filename:dirname(Beam), "epmd_docker.app"),
        {ok, Bin, _} = erl_prim_loader:get_file(App),
        {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Bin)),
        {ok, {application, epmd_docker, Keys}} = erl_parse:parse_term(Tokens),
        proplists:get_value(vsn, Keys)
    catch
        _:_ -> undefined
    end.

%% Builds that carry no version of their own say so in these ways.
comparable(Vsn) ->
    Text = plain(Vsn),
    is_list(Text) andalso not lists:member(Text, ["", "dev", "(devel)"]).

plain(Vsn) when is_binary(Vsn) ->
    plain(unicode:characters_to_list(Vsn));
plain([$v | Rest]) ->
    Rest;
plain(Vsn) ->
    Vsn.

%% Gives up on a running helper. Closing its stdin asks it to exit, which a
%% hung or stopped helper never does, so it is killed as well; first, while
%% it is certainly still our child and its process ID cannot have been
%% reused.
abandon(#state{port = Port, os_pid = OsPid} = State) ->
    kill(OsPid),
    close(Port),
    State#state{port = undefined, os_pid = undefined}.

os_pid(Port) ->
    try erlang:port_info(Port, os_pid) of
        {os_pid, OsPid} when is_integer(OsPid) -> OsPid;
        _ -> undefined
    catch
        error:_ -> undefined
    end.

%% erlang:port_command/3 raises badarg for a port that just closed; the
%% caller treats that like any other failed write. (try, not catch: `catch
%% Expr` is deprecated from OTP 29, and warnings are errors here.) With busy
%% limits disabled the write never suspends, and nosuspend says so.
write_port(Port, Data) ->
    try
        erlang:port_command(Port, Data, [nosuspend])
    catch
        error:Reason -> {'EXIT', Reason}
    end.

%% kill(1), run without a shell; its exit status and any output arrive as
%% messages from a port that is not ours, which handle_info/2 drops. Found
%% by trying, not with os:find_executable/1: during boot there is no file
%% server to ask.
kill(undefined) ->
    ok;
kill(OsPid) ->
    kill(OsPid, ["/bin/kill", "/usr/bin/kill"]).

kill(_OsPid, []) ->
    ok;
kill(OsPid, [Kill | Kills]) ->
    try open_port({spawn_executable, Kill},
                  [{args, ["-KILL", integer_to_list(OsPid)]}, exit_status,
                   stderr_to_stdout]) of
        _ -> ok
    catch
        error:_ -> kill(OsPid, Kills)
    end.

%% The port

open(State0) ->
    Now = now_ms(),
    State = cancel_reopen(State0),
    Paths = helper_paths(State#state.helper),
    Options = port_options(State#state.network, State#state.timeout),
    case open_first(Paths, Options, []) of
        {ok, Port, Path} ->
            Handshake = erlang:start_timer(?HANDSHAKE_AFTER, self(), handshake),
            State#state{status = up, port = Port, os_pid = os_pid(Port),
                        path = Path, up_since = Now,
                        last_attempt = Now, buffer = <<>>,
                        answered = false, garbage_logged = false,
                        handshake = Handshake, protocol = undefined,
                        untold = []};
        {error, Failures} ->
            unavailable(Failures, State#state{last_attempt = Now})
    end.

%% No helper can be run: callers get helper_unavailable at once. A missing
%% or unrunnable program is tried again on demand and every ?MAX_BACKOFF; one
%% that ran and refused (a bad setting, another protocol) only on demand,
%% since running it again by itself would only repeat the refusal.
unavailable(Failures, #state{told = Told} = State0) ->
    State = State0#state{status = unavailable, port = undefined,
                         os_pid = undefined, path = undefined,
                         buffer = <<>>,
                         untold = [F || F <- Failures,
                                        not lists:any(fun(T) -> same_failure(F, T) end,
                                                      Told)]},
    case lists:any(fun refused/1, Failures) of
        true -> cancel_reopen(State);
        false -> reopen_after(?MAX_BACKOFF, State)
    end.

refused({_Path, {fatal, _}}) -> true;
refused({_Path, config}) -> true;
refused({_Path, {protocol, _, _}}) -> true;
refused(_) -> false.

%% Whether failure F was told already as T: a program that cannot be run is
%% told once, however the exec failed this time (an errno, or an exit before
%% answering when a request was written first); a refusal again only when it
%% says something else (another setting, another protocol).
same_failure({Path, _} = F, {Path, _} = T) ->
    case refused(F) orelse refused(T) of
        true -> F =:= T;
        false -> true
    end;
same_failure(_, _) ->
    false.

%% A missing helper is logged once, at the first request it fails, not when
%% the port is first opened: during boot the log line would be printed twice
%% (by the boot-time handler and again by the default one), and a node that
%% never dials a container need not complain at all. Once told, the same
%% failure is not told again until a helper has completed the handshake.
tell(#state{untold = []} = State) ->
    State;
tell(#state{untold = Failures, told = Told} = State) ->
    log_unavailable(Failures),
    State#state{untold = [], told = Told ++ Failures}.

open_first([], _Options, []) ->
    {error, [{none, no_helper}]};
open_first([], _Options, Failures) ->
    {error, lists:reverse(Failures)};
open_first([Path | Paths], Options, Failures) ->
    try open_port({spawn_executable, Path}, Options) of
        Port -> {ok, Port, Path}
    catch
        error:Reason -> open_first(Paths, Options, [{Path, Reason} | Failures])
    end.

%% Never a shell: the helper gets exactly these arguments, and our request
%% timeout, so that it answers {error, timeout} itself before we give up
%% (doc.go: "Settings the port owner passes on"). Its stderr is the VM's
%% stderr, so its diagnostics reach the person running the node. Busy
%% limits are off: see send/4.
port_options(Network, Timeout) ->
    Net = case Network of
              undefined -> [];
              _ -> [{"EPMD_DOCKER_NETWORK", Network}]
          end,
    [{args, ["port"]}, binary, exit_status, use_stdio,
     {busy_limits_port, disabled},
     {env, [{"EPMD_DOCKER_TIMEOUT", integer_to_list(Timeout)} | Net]}].

%% The requests it owed are told helper_down, or helper_unavailable when
%% it could not run at all (a request written to a helper that then failed
%% to start: the first one, when the owner runs it on demand).
port_down(Why, #state{pending = Pending} = State0) ->
    CannotRun = cannot_run(Why, State0),
    Answer = case CannotRun of
                 {true, _} -> {error, helper_unavailable};
                 false -> {error, helper_down}
             end,
    lists:foreach(fun(#pending{waiters = Waiters, timer = Timer}) ->
                          cancel_timer(Timer),
                          [gen_server:reply(W, Answer)
                           || W <- Waiters, is_tuple(W)]
                  end, maps:values(Pending)),
    cancel_timer(State0#state.probe),
    cancel_timer(State0#state.handshake),
    %% Whatever the next helper says, it starts without a stream.
    State = (forget_all(State0))#state{pending = #{}, inflight = #{},
                                       stream = down, unresponsive = false,
                                       probe = undefined, handshake = due,
                                       owed_since = undefined,
                                       protocol = undefined},
    case CannotRun of
        {true, Reason} ->
            Failure = {State#state.path, Reason},
            Unavailable = unavailable([Failure], State),
            %% A helper that ran and refused is told at once: retried only
            %% on demand, it might otherwise never be told at all.
            case refused(Failure) of
                true -> tell(Unavailable);
                false -> Unavailable
            end;
        false ->
            restart(Why, State)
    end.

%% A helper that says it cannot run as configured, or speaks another
%% protocol, is like one that cannot be executed: restarting it by itself
%% would only repeat the refusal.
cannot_run({fatal, Message}, _State) ->
    {true, {fatal, Message}};
cannot_run({exit_status, ?EXIT_CONFIG}, _State) ->
    {true, config};
cannot_run({protocol, _, _} = Why, _State) ->
    {true, Why};
cannot_run(Why, State) ->
    exec_failed(Why, State).

%% erl_child_setup reports an exec that failed as an exit with the errno
%% for status: a directory or a file without a #! line is opened as a port
%% that exits at once. Restarting it would only repeat the warning. When a
%% request was written to it in the meantime, the port fails with epipe
%% instead, and the status is lost.
exec_failed(Why, #state{answered = false} = State) ->
    Reason = case Why of
                 %% Not 2 (enoent): the helper's own status for a usage
                 %% error.
                 {exit_status, 8} -> enoexec;
                 {exit_status, 13} -> eacces;
                 epipe -> why_not_started(State#state.path);
                 _ -> undefined
             end,
    case Reason =/= undefined andalso
        now_ms() - State#state.up_since < ?EXEC_FAILED_WITHIN of
        true -> {true, Reason};
        false -> false
    end;
exec_failed(_Why, _State) ->
    false.

%% Why a program whose port failed (epipe) before it answered could not
%% have started, found after the fact: a request written at once (the
%% first one, when the helper is run on demand) turns an exec failure
%% into epipe, and its errno is lost. Only on this failure path, never at
%% boot: it reads the file.
why_not_started(Path) ->
    try file:read_file_info(Path) of
        {ok, #file_info{type = directory}} -> eacces;
        {ok, #file_info{type = regular, mode = Mode}} when Mode band 8#111 =:= 0 -> eacces;
        {ok, #file_info{type = regular}} ->
            case file:open(Path, [read, binary, raw]) of
                {ok, F} ->
                    Head = file:read(F, 4),
                    _ = file:close(F),
                    case Head of
                        {ok, <<16#7f, "ELF">>} -> stopped_at_start;
                        {ok, <<"#!", _/binary>>} -> stopped_at_start;
                        _ -> enoexec
                    end;
                {error, Reason} ->
                    Reason
            end;
        {error, Reason} -> Reason;
        _ -> stopped_at_start
    catch
        error:_ -> stopped_at_start
    end.

%% A helper that found its input corrupt (exit status 65) is restarted at
%% once: it was not failing, the stream was; anything else with backoff.
restart(Why, State) ->
    Backoff = case now_ms() - State#state.up_since >= ?STABLE_AFTER of
                  true -> ?MIN_BACKOFF;
                  false -> State#state.backoff
              end,
    {Delay, Next} = case Why of
                        {exit_status, ?EXIT_CORRUPT} -> {?MIN_BACKOFF, Backoff};
                        _ -> {Backoff, min(2 * Backoff, ?MAX_BACKOFF)}
                    end,
    ?LOG_WARNING("epmd_docker: the helper ~ts stopped (~ts); restarting it in "
                 "~b ms", [State#state.path, describe_exit(Why), Delay]),
    reopen_after(Delay,
                 State#state{status = down, port = undefined,
                             os_pid = undefined, buffer = <<>>,
                             backoff = Next,
                             restarts = State#state.restarts + 1}).

%% One reopen timer at most, however often an open fails.
reopen_after(Delay, State) ->
    Timer = erlang:start_timer(Delay, self(), reopen),
    (cancel_reopen(State))#state{reopen = Timer}.

cancel_reopen(#state{reopen = undefined} = State) ->
    State;
cancel_reopen(#state{reopen = Timer} = State) ->
    cancel_timer(Timer),
    State#state{reopen = undefined}.

cancel_timer(Timer) when is_reference(Timer) ->
    _ = erlang:cancel_timer(Timer),
    ok;
cancel_timer(_NoTimer) ->
    ok.

close(undefined) ->
    ok;
close(Port) ->
    %% badarg when the port has closed already, which is what we want.
    try erlang:port_close(Port) of
        true -> ok
    catch
        error:badarg -> ok
    end.

%% Where the helper is: an explicit path (EPMD_DOCKER_HELPER or
%% -epmd_docker_helper) wins and is the only one tried, because a person who
%% names a program means that one. Else, in this application's priv
%% directory, the prebuilt helper for the system this VM runs on
%% (priv/OS-ARCH/epmd-docker, as `make dist` and the package lay them out),
%% then a local build (priv/epmd-docker). code:priv_dir/1 fails when the
%% application is not in the code path by name (erl -pa some/dir/ebin), so
%% ../priv next to this module's beam comes second. Existence is not
%% checked here (that would be file I/O, and this runs at boot); open_port/2
%% reports a missing file and the next path is tried.
helper_paths(undefined) ->
    Priv = case code:priv_dir(epmd_docker) of
               Dir when is_list(Dir) -> [Dir];
               {error, _} -> []
           end,
    Beside = case code:which(?MODULE) of
                 Beam when is_list(Beam) ->
                     %% .../ebin/epmd_docker_helper.beam -> .../priv
                     [filename:join(filename:dirname(filename:dirname(Beam)),
                                    "priv")];
                 _ ->
                     %% cover_compiled, preloaded, non_existing
                     []
             end,
    System = system(os:type(), erlang:system_info(system_architecture)),
    dedup([filename:join(PrivDir, File)
           || PrivDir <- Priv ++ Beside,
              File <- [filename:join(System, "epmd-docker"), "epmd-docker"]]);
helper_paths(Path) ->
    [Path].

%% Go's GOOS-GOARCH for this VM, the names `make dist` gives the prebuilt
%% helpers: from os:type() and the architecture triple the VM was built for
%% (x86_64-pc-linux-gnu, aarch64-apple-darwin23.4.0). scripts/ensure-helper.sh
%% maps them the same way at compile time. A system without a prebuilt
%% helper gets a name no file has, and the local build is used.
system({_, OsName}, Triple) ->
    Os = case OsName of
             sunos -> "solaris";
             _ -> atom_to_list(OsName)
         end,
    Arch = case string:lowercase(hd(string:split(Triple, "-"))) of
               A when A =:= "x86_64"; A =:= "amd64" -> "amd64";
               A when A =:= "aarch64"; A =:= "arm64" -> "arm64";
               A -> A
           end,
    Os ++ "-" ++ Arch.

dedup([]) -> [];
dedup([P | Ps]) -> [P | dedup([Q || Q <- Ps, Q =/= P])].

log_unavailable([{none, no_helper}]) ->
    ?LOG_WARNING("epmd_docker: no helper program to run (priv/epmd-docker "
                 "not found in the code path); container host names will "
                 "not resolve, ordinary host names still do. Build it with "
                 "`make priv/epmd-docker` or set EPMD_DOCKER_HELPER");
log_unavailable(Failures) ->
    Tried = lists:join("; ", [io_lib:format("~ts: ~ts",
                                            [Path, failure_text(Reason)])
                              || {Path, Reason} <- Failures]),
    Hint = case [R || {_, R} <- Failures, refused({none, R})] of
               [{protocol, _, _} | _] ->
                   "Rebuild it with `make priv/epmd-docker` or point "
                   "EPMD_DOCKER_HELPER at the helper of this version";
               [_ | _] ->
                   "Fix the setting; the helper is tried again when next "
                   "needed";
               [] ->
                   "Build it with `make priv/epmd-docker` or set "
                   "EPMD_DOCKER_HELPER"
           end,
    ?LOG_WARNING("epmd_docker: cannot run the helper (~ts); container host "
                 "names will not resolve, ordinary host names still do. ~ts",
                 [Tried, Hint]).

failure_text(stopped_at_start) ->
    "it stopped at once, before answering";
failure_text({fatal, Message}) ->
    io_lib:format("it cannot run as configured: ~ts", [Message]);
failure_text(config) ->
    "it cannot run as configured (exit status 78); its own message is above";
failure_text({protocol, Protocol, Version}) ->
    io_lib:format("it speaks protocol ~b (version ~ts), this node needs "
                  "protocol ~b", [Protocol, printable(Version),
                                  epmd_docker_wire:protocol()]);
failure_text(Reason) ->
    file:format_error(Reason).

%% The version comes from the helper: checked as text by the wire module.
printable(Version) when is_binary(Version) -> Version;
printable(_) -> <<"unknown">>.

describe_exit({exit_status, ?EXIT_CORRUPT}) ->
    "exit status 65: its input was corrupt";
describe_exit({exit_status, Status}) ->
    io_lib:format("exit status ~b", [Status]);
describe_exit({bad_frame, Length}) ->
    io_lib:format("it wrote something that is not a reply: a length "
                  "prefix of ~b bytes", [Length]);
describe_exit({silent, Ms}) ->
    io_lib:format("nothing sent for ~b ms while it owed an answer", [Ms]);
describe_exit(Reason) ->
    io_lib:format("~tp", [Reason]).

%% Settings

%% EPMD_DOCKER_TIMEOUT as given, within bounds, and at most a third of
%% net_setuptime, so that a lookup leaves the connection setup time.
configured_timeout() ->
    Cap = max(1, setup_time() div ?SETUP_SHARE),
    min(parse_timeout(setting(epmd_docker_timeout, "EPMD_DOCKER_TIMEOUT")), Cap).

parse_timeout(undefined) ->
    ?DEFAULT_TIMEOUT;
parse_timeout(Text) ->
    try list_to_integer(string:trim(Text)) of
        N when N > 0, N =< ?MAX_TIMEOUT -> N;
        _ -> ?DEFAULT_TIMEOUT
    catch
        error:badarg -> ?DEFAULT_TIMEOUT
    end.

%% net_setuptime in milliseconds (kernel's default, 7 s, when unset). The
%% application environment is an ETS table: no call, also during boot.
-spec setup_time() -> pos_integer().
setup_time() ->
    try application:get_env(kernel, net_setuptime) of
        {ok, Seconds} when is_number(Seconds), Seconds > 0 ->
            round(min(Seconds, 120) * 1000);
        _ ->
            7000
    catch
        _:_ -> 7000
    end.

%% A timeout as callers pass it, made one that timers and receive accept.
clamp(Timeout) when is_integer(Timeout), Timeout > ?MAX_TIMEOUT ->
    ?MAX_TIMEOUT;
clamp(Timeout) when is_integer(Timeout), Timeout > 0 ->
    Timeout;
clamp(_) ->
    timeout().

%% The same in the owner, for a call that did not come through request/3.
clamp_here(Timeout, _State) when is_integer(Timeout), Timeout > ?MAX_TIMEOUT ->
    ?MAX_TIMEOUT;
clamp_here(Timeout, _State) when is_integer(Timeout), Timeout > 0 ->
    Timeout;
clamp_here(_, State) ->
    State#state.timeout.

%% EPMD_DOCKER_TTL, a Go duration ("30s", "1m30s", "500ms", "0"), in
%% milliseconds; the default for anything else (the helper then refuses to
%% run, and says so).
ttl(undefined) ->
    ?DEFAULT_TTL;
ttl(Text) ->
    case duration(string:trim(Text), 0) of
        {ok, Ms} -> Ms;
        error -> ?DEFAULT_TTL
    end.

duration("0", 0) ->
    {ok, 0};
duration("", Acc) ->
    {ok, round(Acc)};
duration(Text, Acc) ->
    case string:to_float(Text) of
        {Number, Rest} when is_float(Number) -> unit(Number, Rest, Acc);
        {error, _} ->
            case string:to_integer(Text) of
                {Number, Rest} when is_integer(Number) -> unit(Number, Rest, Acc);
                _ -> error
            end
    end.

unit(N, Rest, Acc) when N >= 0 ->
    %% "ms" before "m" and "s".
    Units = [{"ns", 1.0e-6}, {"us", 1.0e-3}, {[16#B5, $s], 1.0e-3},
             {"ms", 1}, {"h", 3600000}, {"m", 60000}, {"s", 1000}],
    case [{U, F} || {U, F} <- Units, lists:prefix(U, Rest)] of
        [{U, F} | _] -> duration(lists:nthtail(length(U), Rest), Acc + N * F);
        [] -> error
    end;
unit(_N, _Rest, _Acc) ->
    error.

%% A -Flag on the command line wins over the environment variable Env; the
%% last -Flag given wins over earlier ones.
setting(Flag, Env) ->
    case init:get_argument(Flag) of
        {ok, Values} when Values =/= [] ->
            case lists:last(Values) of
                [Value | _] -> Value;
                [] -> env(Env)
            end;
        _ ->
            env(Env)
    end.

env(undefined) ->
    undefined;
env(Name) ->
    case os:getenv(Name) of
        false -> undefined;
        "" -> undefined;
        Value -> Value
    end.

now_ms() ->
    erlang:monotonic_time(millisecond).

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

%% The helper gets our timeout, so it answers before we give up (issue 11:
%% it never did, and used a fixed 1.5 s).
port_options_test_() ->
    [?_assertEqual([{args, ["port"]}, binary, exit_status, use_stdio,
                    {busy_limits_port, disabled},
                    {env, [{"EPMD_DOCKER_TIMEOUT", "2000"}]}],
                   port_options(undefined, 2000)),
     ?_assertEqual([{args, ["port"]}, binary, exit_status, use_stdio,
                    {busy_limits_port, disabled},
                    {env, [{"EPMD_DOCKER_TIMEOUT", "350"},
                           {"EPMD_DOCKER_NETWORK", "web"}]}],
                   port_options("web", 350))].

helper_paths_test_() ->
    Here = system(os:type(), erlang:system_info(system_architecture)),
    Paths = helper_paths(undefined),
    [?_assertEqual(["/x/helper"], helper_paths("/x/helper")),
     ?_assert(lists:all(fun(P) -> filename:basename(P) =:= "epmd-docker" end,
                        Paths)),
     %% The prebuilt helper for this system comes before the local build in
     %% the same priv directory.
     ?_test(begin
                [Prebuilt, Local | _] = Paths,
                ?assertEqual(filename:join([filename:dirname(Local), Here,
                                            "epmd-docker"]),
                             Prebuilt)
            end),
     ?_assertEqual("linux-amd64",
                   system({unix, linux}, "x86_64-pc-linux-gnu")),
     ?_assertEqual("linux-arm64",
                   system({unix, linux}, "aarch64-unknown-linux-gnu")),
     ?_assertEqual("darwin-arm64",
                   system({unix, darwin}, "aarch64-apple-darwin23.4.0")),
     ?_assertEqual("darwin-arm64",
                   system({unix, darwin}, "arm64-apple-darwin21.1.0")),
     ?_assertEqual("darwin-amd64",
                   system({unix, darwin}, "x86_64-apple-darwin21.6.0")),
     ?_assertEqual("freebsd-amd64",
                   system({unix, freebsd}, "amd64-portbld-freebsd13.2"))].

dedup_test() ->
    ?assertEqual(["a", "b"], dedup(["a", "b", "a"])).

%% Whatever the flag or the variable says in the environment the tests run
%% in, the parsing is tested on its own.
timeout_default_test_() ->
    [?_assertEqual(?DEFAULT_TIMEOUT, parse_timeout(undefined)),
     ?_assertEqual(350, parse_timeout("350")),
     ?_assertEqual(350, parse_timeout(" 350\n")),
     ?_assertEqual(?DEFAULT_TIMEOUT, parse_timeout("soon")),
     ?_assertEqual(?DEFAULT_TIMEOUT, parse_timeout("0")),
     ?_assertEqual(?DEFAULT_TIMEOUT, parse_timeout("-5")),
     ?_assertEqual(?DEFAULT_TIMEOUT, parse_timeout("60001"))].

timeout_env_test() ->
    Old = os:getenv("EPMD_DOCKER_TIMEOUT"),
    try
        case init:get_argument(epmd_docker_timeout) of
            error ->
                os:unsetenv("EPMD_DOCKER_TIMEOUT"),
                ?assertEqual(?DEFAULT_TIMEOUT, configured_timeout()),
                os:putenv("EPMD_DOCKER_TIMEOUT", "350"),
                ?assertEqual(350, configured_timeout()),
                os:putenv("EPMD_DOCKER_TIMEOUT", "soon"),
                ?assertEqual(?DEFAULT_TIMEOUT, configured_timeout()),
                %% Well below net_setuptime (7 s by default): capped.
                os:putenv("EPMD_DOCKER_TIMEOUT", "6000"),
                ?assertEqual(7000 div ?SETUP_SHARE, configured_timeout());
            {ok, _} ->
                %% The flag wins over the variable whatever it says.
                os:putenv("EPMD_DOCKER_TIMEOUT", "351"),
                ?assertNotEqual(351, configured_timeout())
        end
    after
        case Old of
            false -> os:unsetenv("EPMD_DOCKER_TIMEOUT");
            _ -> os:putenv("EPMD_DOCKER_TIMEOUT", Old)
        end
    end.

%% A timeout a timer or a receive would raise on (issue 11: 1 bsl 70 took
%% distribution down) is clamped.
clamp_test_() ->
    [?_assertEqual(?MAX_TIMEOUT, clamp(1 bsl 70)),
     ?_assertEqual(5, clamp(5)),
     ?_assert(is_integer(clamp(infinity))),
     ?_assert(is_integer(clamp(0))),
     ?_assert(is_integer(clamp(-1)))].

ttl_test_() ->
    [?_assertEqual(30000, ttl(undefined)),
     ?_assertEqual(30000, ttl("30s")),
     ?_assertEqual(90000, ttl("1m30s")),
     ?_assertEqual(500, ttl("500ms")),
     ?_assertEqual(1500, ttl("1.5s")),
     ?_assertEqual(0, ttl("0")),
     ?_assertEqual(?DEFAULT_TTL, ttl("bogus")),
     ?_assertEqual(?DEFAULT_TTL, ttl("10")),
     ?_assertEqual(?DEFAULT_TTL, ttl("-1s"))].

key_test_() ->
    [?_assertEqual({<<"web.example">>, inet}, key(<<"Web.Example.">>, inet)),
     ?_assertEqual({<<>>, inet6}, key(<<>>, inet6)),
     ?_assertEqual(miss, cached(no_such_table_epmd_docker, {resolve, <<"a">>, inet})),
     ?_assertEqual(miss, cached(no_such_table_epmd_docker, ping))].

describe_exit_test_() ->
    [?_assertEqual("exit status 3", lists:flatten(describe_exit({exit_status, 3}))),
     ?_assertEqual("nothing sent for 5000 ms while it owed an answer",
                   lists:flatten(describe_exit({silent, 5000})))].

-endif.
