%% The port owner: one process that runs the epmd-docker helper in port mode,
%% sends it tagged requests and hands each reply to the caller that asked.
%% The wire protocol is written down in go/internal/wire/doc.go; the shapes
%% are encoded and checked in epmd_docker_wire.
%%
%% This process is started by epmd_docker:start_link/0 under net_sup, which
%% is one_for_all with zero restarts: if it crashed, distribution would go
%% down with it. So it never crashes on anything the helper does. A dead
%% helper is restarted here, with backoff, and callers get {error, Reason}
%% meanwhile; a helper that is silent while requests time out, or writes
%% something that is not a frame, is killed and restarted; a missing helper,
%% or one that cannot be executed, is logged once, and callers get
%% {error, helper_unavailable} at once so that ordinary host names still
%% resolve through the fallback in epmd_docker. Replies are decoded without
%% creating atoms, and their length is capped (see handle_data/2).
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

-define(DEFAULT_TIMEOUT, 2000).
-define(MAX_TIMEOUT, 60000).
%% How much longer a caller waits than the owner's own request timer, so the
%% owner's {error, timeout} normally arrives before gen_server:call gives up.
-define(CALL_MARGIN, 500).
-define(MIN_BACKOFF, 100).
-define(MAX_BACKOFF, 10000).
%% A helper that stayed up this long counts as healthy: backoff starts over.
-define(STABLE_AFTER, 30000).
%% A helper that has sent nothing for this long while a request timed out is
%% hung: restart it. Long enough that a helper answering slowly (the helper
%% answers {error, timeout} itself when Docker is slow) is never taken for
%% a hung one.
-define(HUNG_AFTER, 5000).
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

-type options() :: #{name => atom() | none,
                     helper => file:filename(),
                     network => string()}.
-type status() :: starting | up | down | unavailable.
%% A program that could not be run and why; {none, no_helper} when there
%% was no program to try.
-type failure() :: {file:filename(), term()} | {none, no_helper}.
%% Spelled out: gen_server's own types for these are not in every release.
-type server() :: pid() | atom().
-type from() :: {pid(), term()}.

-record(state, {
          helper :: file:filename() | undefined,  % path override, if any
          network :: string() | undefined,
          status = starting :: status(),
          port :: port() | undefined,
          os_pid :: non_neg_integer() | undefined, % the port's process
          path :: file:filename() | undefined,    % what the port runs
          tag = 0 :: epmd_docker_wire:tag(),
          pending = #{} :: #{epmd_docker_wire:tag() =>
                                 {from(), epmd_docker_wire:command(),
                                  reference()}},
          backoff = ?MIN_BACKOFF :: pos_integer(),
          up_since = 0 :: integer(),
          last_attempt = 0 :: integer(),
          reopen :: reference() | undefined,      % the one pending reopen
          heard = 0 :: integer(),                 % when it last sent a frame
          buffer = <<>> :: binary(),              % the start of a frame
          answered = false :: boolean(),          % sent a frame since opened
          restarts = 0 :: non_neg_integer(),
          garbage_logged = false :: boolean(),
          %% Why the helper could not be run: not yet in the log, and
          %% already in it since the helper last answered.
          untold = [] :: [failure()],
          told = [] :: [failure()]
         }).

%% Starting and stopping

%% The port owner for this node, registered as epmd_docker_helper.
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    start_link(#{}).

%% Options are for tests and embedding: name (none for an unregistered
%% owner), helper (the program to run) and network (EPMD_DOCKER_NETWORK for
%% the helper). Unset options come from flags and the environment.
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
%% Never raises; always returns within timeout() plus a small margin.
-spec request(epmd_docker_wire:command()) -> epmd_docker_wire:answer().
request(Command) ->
    _ = case whereis(?MODULE) of
            undefined -> start(#{});
            _ -> ok
        end,
    request(?MODULE, Command, timeout()).

-spec request(server(), epmd_docker_wire:command(),
              pos_integer()) -> epmd_docker_wire:answer().
request(Server, Command, Timeout) when is_integer(Timeout), Timeout > 0 ->
    try
        gen_server:call(Server, {request, Command, Timeout},
                        Timeout + ?CALL_MARGIN)
    catch
        exit:{timeout, _} -> {error, timeout};
        exit:_ -> {error, helper_down}
    end.

%% Settings and state

%% The request timeout in milliseconds: -epmd_docker_timeout, else
%% EPMD_DOCKER_TIMEOUT, else 2000.
-spec timeout() -> pos_integer().
timeout() ->
    case setting(epmd_docker_timeout, "EPMD_DOCKER_TIMEOUT") of
        undefined ->
            ?DEFAULT_TIMEOUT;
        Text ->
            try list_to_integer(string:trim(Text)) of
                N when N > 0, N =< ?MAX_TIMEOUT -> N;
                _ -> ?DEFAULT_TIMEOUT
            catch
                error:badarg -> ?DEFAULT_TIMEOUT
            end
    end.

%% What the owner is doing, for tests and for people debugging a node.
%% os_pid is the helper's operating system process, while one runs.
-spec status(server()) ->
          #{status := status(), path := file:filename() | undefined,
            pending := non_neg_integer(), restarts := non_neg_integer(),
            os_pid := non_neg_integer() | undefined} |
          {error, helper_down}.
status(Server) ->
    try
        gen_server:call(Server, status, ?DEFAULT_TIMEOUT)
    catch
        exit:_ -> {error, helper_down}
    end.

%% gen_server callbacks

-spec init(options()) -> {ok, #state{}, {continue, open}}.
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
    {ok, #state{helper = Helper, network = Network}, {continue, open}}.

-spec handle_continue(open, #state{}) -> {noreply, #state{}}.
handle_continue(open, State) ->
    {noreply, open(State)}.

-spec handle_call(term(), from(), #state{}) ->
          {reply, term(), #state{}} | {noreply, #state{}}.
handle_call({request, Command, Timeout}, From, State) ->
    handle_request(Command, Timeout, From, State);
handle_call(status, _From, State) ->
    #state{status = Status, path = Path, pending = Pending,
           restarts = Restarts, os_pid = OsPid} = State,
    {reply, #{status => Status, path => Path, pending => map_size(Pending),
              restarts => Restarts, os_pid => OsPid}, State};
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
handle_info(_Stale, State) ->
    %% Exits of ports we already gave up on, timers of answered requests.
    {noreply, State}.

-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, State) ->
    %% The helper exits when its stdin closes, unless it hangs; nobody will
    %% read its answers now, so it is not waited for either way.
    _ = abandon(State),
    ok.

-spec code_change(term(), #state{}, term()) -> {ok, #state{}}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%% Requests

handle_request(Command, Timeout0, From, State0) ->
    Timeout = case is_integer(Timeout0) andalso Timeout0 > 0 of
                  true -> Timeout0;
                  false -> ?DEFAULT_TIMEOUT
              end,
    State = maybe_retry(State0),
    case State#state.status of
        up -> send(Command, Timeout, From, State);
        unavailable -> {reply, {error, helper_unavailable}, tell(State)};
        _ -> {reply, {error, helper_down}, State}
    end.

%% A helper that was missing may have been built since: try again on demand,
%% but not more than once a second.
maybe_retry(#state{status = unavailable, last_attempt = Last} = State) ->
    case now_ms() - Last >= ?RETRY_ON_DEMAND of
        true -> open(State);
        false -> State
    end;
maybe_retry(State) ->
    State.

send(Command, Timeout, From, State) ->
    #state{port = Port, tag = Tag, pending = Pending} = State,
    Frame = epmd_docker_wire:encode(Tag, Command),
    %% {packet,4} by hand: see handle_data/2. nosuspend: a helper that
    %% stopped reading its stdin must not block the owner, or every caller
    %% would wait on it.
    case write_port(Port, [<<(byte_size(Frame)):32>>, Frame]) of
        true ->
            Timer = erlang:start_timer(Timeout, self(), {request_timeout, Tag}),
            {noreply,
             State#state{tag = (Tag + 1) band 16#FFFFFFFF,
                         pending = Pending#{Tag => {From, Command, Timer}}}};
        false ->
            {reply, {error, timeout}, check_hung(State)};
        {'EXIT', _} ->
            %% The port is going away; its exit message follows.
            {reply, {error, helper_down}, State}
    end.

%% Splits what the helper wrote into {packet,4} frames. A length prefix over
%% ?MAX_REPLY means the stream is out of step for good: nothing later can be
%% trusted, so the helper is restarted at once instead of waiting to be
%% found silent.
handle_data(Bytes, #state{buffer = Buffer} = State) ->
    frames(<<Buffer/binary, Bytes/binary>>, State).

frames(<<Length:32, _/binary>>, State) when Length > ?MAX_REPLY ->
    port_down({bad_frame, Length}, abandon(State));
frames(<<Length:32, Frame:Length/binary, Rest/binary>>, State) ->
    frames(Rest, handle_frame(Frame, State));
frames(Partial, State) ->
    State#state{buffer = Partial}.

handle_frame(Frame, #state{pending = Pending} = State0) ->
    %% A helper that answers is one that runs: a later failure to run one
    %% is news again.
    State = State0#state{heard = now_ms(), answered = true, told = []},
    case epmd_docker_wire:decode(Frame) of
        {ok, Tag, Answer} ->
            case maps:take(Tag, Pending) of
                {{From, Command, Timer}, Rest} ->
                    _ = erlang:cancel_timer(Timer),
                    gen_server:reply(From, epmd_docker_wire:check(Command, Answer)),
                    State#state{pending = Rest};
                error ->
                    %% The answer to a request that already timed out.
                    State
            end;
        {error, garbage} when not State#state.garbage_logged ->
            ?LOG_WARNING("epmd_docker: ignored a ~b-byte frame from the helper "
                         "that is not a reply; later ones are not logged",
                         [byte_size(Frame)]),
            State#state{garbage_logged = true};
        {error, garbage} ->
            State
    end.

request_timeout(Tag, Timer, #state{pending = Pending} = State) ->
    case maps:take(Tag, Pending) of
        {{From, _Command, Timer}, Rest} ->
            gen_server:reply(From, {error, timeout}),
            check_hung(State#state{pending = Rest});
        _ ->
            State
    end.

%% A request timed out. If the helper has been silent for long, it hangs: a
%% restart costs only its cache.
check_hung(#state{heard = Heard} = State) ->
    case now_ms() - Heard of
        Silent when Silent >= ?HUNG_AFTER ->
            port_down({silent, Silent}, abandon(State));
        _ ->
            State
    end.

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
%% Expr` is deprecated from OTP 29, and warnings are errors here.)
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
    case open_first(Paths, port_options(State#state.network), []) of
        {ok, Port, Path} ->
            State#state{status = up, port = Port, os_pid = os_pid(Port),
                        path = Path, up_since = Now,
                        last_attempt = Now, heard = Now, buffer = <<>>,
                        answered = false, garbage_logged = false,
                        untold = []};
        {error, Failures} ->
            unavailable(Failures, State#state{last_attempt = Now})
    end.

%% No helper can be run: callers get helper_unavailable at once, and it is
%% tried again on demand and every ?MAX_BACKOFF.
unavailable(Failures, #state{told = Told} = State) ->
    reopen_after(?MAX_BACKOFF,
                 State#state{status = unavailable, port = undefined,
                             os_pid = undefined, path = undefined,
                             buffer = <<>>,
                             untold = [F || {Path, _} = F <- Failures,
                                            not lists:keymember(Path, 1,
                                                                Told)]}).

%% A missing helper is logged once, at the first request it fails, not when
%% the port is first opened: during boot the log line would be printed twice
%% (by the boot-time handler and again by the default one), and a node that
%% never dials a container need not complain at all. Once told, the same
%% failure is not told again until a helper has answered.
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

%% Never a shell: the helper gets exactly these arguments. Its stderr is the
%% VM's stderr, so its diagnostics reach the person running the node.
port_options(Network) ->
    Env = case Network of
              undefined -> [];
              _ -> [{env, [{"EPMD_DOCKER_NETWORK", Network}]}]
          end,
    [{args, ["port"]}, binary, exit_status, use_stdio | Env].

port_down(Why, #state{pending = Pending} = State) ->
    lists:foreach(fun({From, _Command, Timer}) ->
                          _ = erlang:cancel_timer(Timer),
                          gen_server:reply(From, {error, helper_down})
                  end, maps:values(Pending)),
    case exec_failed(Why, State) of
        {true, Reason} -> cannot_run(Reason, State#state{pending = #{}});
        false -> restart(Why, State#state{pending = #{}})
    end.

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
                 epipe -> stopped_at_start;
                 _ -> undefined
             end,
    case Reason =/= undefined andalso
        now_ms() - State#state.up_since < ?EXEC_FAILED_WITHIN of
        true -> {true, Reason};
        false -> false
    end;
exec_failed(_Why, _State) ->
    false.

%% Like a helper that open_port/2 refused.
cannot_run(Reason, State) ->
    unavailable([{State#state.path, Reason}], State).

restart(Why, State) ->
    Backoff = case now_ms() - State#state.up_since >= ?STABLE_AFTER of
                  true -> ?MIN_BACKOFF;
                  false -> State#state.backoff
              end,
    ?LOG_WARNING("epmd_docker: the helper ~ts stopped (~ts); restarting it in "
                 "~b ms", [State#state.path, describe_exit(Why), Backoff]),
    reopen_after(Backoff,
                 State#state{status = down, port = undefined,
                             os_pid = undefined, buffer = <<>>,
                             backoff = min(2 * Backoff, ?MAX_BACKOFF),
                             restarts = State#state.restarts + 1}).

%% One reopen timer at most, however often an open fails.
reopen_after(Delay, State) ->
    Timer = erlang:start_timer(Delay, self(), reopen),
    (cancel_reopen(State))#state{reopen = Timer}.

cancel_reopen(#state{reopen = undefined} = State) ->
    State;
cancel_reopen(#state{reopen = Timer} = State) ->
    _ = erlang:cancel_timer(Timer),
    State#state{reopen = undefined}.

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
    ?LOG_WARNING("epmd_docker: cannot run the helper (~ts); container host "
                 "names will not resolve, ordinary host names still do. "
                 "Build it with `make priv/epmd-docker` or set "
                 "EPMD_DOCKER_HELPER", [Tried]).

failure_text(stopped_at_start) ->
    "it stopped at once, before answering";
failure_text(Reason) ->
    file:format_error(Reason).

describe_exit({exit_status, Status}) ->
    io_lib:format("exit status ~b", [Status]);
describe_exit({bad_frame, Length}) ->
    io_lib:format("it wrote something that is not a reply: a length "
                  "prefix of ~b bytes", [Length]);
describe_exit({silent, Ms}) ->
    io_lib:format("nothing sent for ~b ms while requests timed out", [Ms]);
describe_exit(Reason) ->
    io_lib:format("~tp", [Reason]).

%% Settings

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

port_options_test_() ->
    [?_assertEqual([{args, ["port"]}, binary, exit_status, use_stdio],
                   port_options(undefined)),
     ?_assertEqual([{args, ["port"]}, binary, exit_status, use_stdio,
                    {env, [{"EPMD_DOCKER_NETWORK", "web"}]}],
                   port_options("web"))].

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

timeout_default_test() ->
    case {init:get_argument(epmd_docker_timeout),
          os:getenv("EPMD_DOCKER_TIMEOUT")} of
        {error, false} -> ?assertEqual(?DEFAULT_TIMEOUT, timeout());
        _ -> ok
    end.

timeout_env_test() ->
    Old = os:getenv("EPMD_DOCKER_TIMEOUT"),
    try
        os:putenv("EPMD_DOCKER_TIMEOUT", "350"),
        ?assertEqual(350, timeout()),
        os:putenv("EPMD_DOCKER_TIMEOUT", "soon"),
        ?assertEqual(?DEFAULT_TIMEOUT, timeout()),
        os:putenv("EPMD_DOCKER_TIMEOUT", "0"),
        ?assertEqual(?DEFAULT_TIMEOUT, timeout())
    after
        case Old of
            false -> os:unsetenv("EPMD_DOCKER_TIMEOUT");
            _ -> os:putenv("EPMD_DOCKER_TIMEOUT", Old)
        end
    end.

describe_exit_test_() ->
    [?_assertEqual("exit status 3", lists:flatten(describe_exit({exit_status, 3}))),
     ?_assertEqual("nothing sent for 5000 ms while requests timed out",
                   lists:flatten(describe_exit({silent, 5000})))].

-endif.
