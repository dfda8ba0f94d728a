%% The Erlang end of `make bench`: measurements that only mean something
%% when taken inside a node, timed with erlang:monotonic_time/0.
%%
%% A bench node runs main/0, which reads one request per line on standard
%% input and prints one answer line, so that the Go driver (test/bench) can
%% interleave measurements on several nodes in one run:
%%
%%     Input line:  Id Expression.      e.g. 7 epmd_docker_bench:ets_floor(["h"], 100).
%%     Output line: @@RESULT Id Term    e.g. @@RESULT 7 {ok,[212,198]}
%%
%% Timings are {ok, [Nanoseconds]}, one per call, in call order; anything
%% that goes wrong is {error, Why}, never a crash of the node. Every loop is
%% bounded by its count or by a deadline.
-module(epmd_docker_bench).

%% Driver
-export([main/0]).

%% Lookups
-export([address_please/4]).
-export([address_please_spaced/5]).
-export([address_please_each/3]).
-export([getaddr/2]).
-export([ets_floor/2]).
-export([resolve_each/1]).
-export([ping/1]).
-export([port_echo/1]).
-export([until_gone/3]).
-export([burst/2]).

%% Connections
-export([connect/2]).
-export([connect/3]).
-export([cluster/3]).

%% The helper
-export([helper_pid/0]).
-export([load/3]).

%% Start-up
-export([first_lookup/1]).

%% How long one connection setup may take before it counts as failed.
-define(CONNECT_TIMEOUT, 10000).

%% Driver

-spec main() -> no_return().
main() ->
    loop(),
    erlang:halt(0).

loop() ->
    case io:get_line('') of
        eof -> ok;
        {error, _} -> ok;
        Line ->
            handle(string:trim(Line)),
            loop()
    end.

handle("") ->
    ok;
handle(Line) ->
    {IdText, Expr} = string:take(Line, "0123456789"),
    Id = list_to_integer(IdText),
    Result =
        try
            {ok, Tokens, _} = erl_scan:string(Expr),
            {ok, Exprs} = erl_parse:parse_exprs(Tokens),
            {value, Value, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
            Value
        catch
            Class:Reason -> {error, {Class, Reason}}
        end,
    io:format("~n@@RESULT ~b ~0tp~n", [Id, Result]).

%% Lookups

%% Module:address_please/3 of one host, N times. The first call, untimed,
%% fills whatever cache the module has: this is the warm path.
-spec address_please(module(), string(), inet | inet6, pos_integer()) ->
          {ok, [non_neg_integer()]} | {error, term()}.
address_please(Mod, Host, Family, N) ->
    %% {ok, Ip}, or {ok, Ip, Port, 6} for a node dialled at a port (a
    %% published port, a tunnel, a Kubernetes port-forward).
    Ok = fun() -> element(1, Mod:address_please("app", Host, Family)) =:= ok end,
    case Ok() of
        true -> times(fun() -> true = Ok() end, N);
        false -> {error, {first_lookup, Host, Mod:address_please("app", Host, Family)}}
    end.

%% As address_please/4, with a pause of GapMs before each call: a lookup
%% that finds the helper idle, as the lookups of a connection setup do,
%% rather than one of a busy loop.
-spec address_please_spaced(module(), string(), inet | inet6, pos_integer(),
                            non_neg_integer()) ->
          {ok, [non_neg_integer()]} | {error, term()}.
address_please_spaced(Mod, Host, Family, N, GapMs) ->
    case Mod:address_please("app", Host, Family) of
        {ok, _} ->
            {ok, [begin
                      timer:sleep(GapMs),
                      T0 = erlang:monotonic_time(),
                      {ok, _} = Mod:address_please("app", Host, Family),
                      ns(erlang:monotonic_time() - T0)
                  end || _ <- lists:seq(1, N)]};
        Other ->
            {error, {first_lookup, Host, Other}}
    end.

%% Module:address_please/3 once for each host: with a new name each time,
%% every call misses the helper's answer cache.
-spec address_please_each(module(), [string()], inet | inet6) ->
          {ok, [non_neg_integer()]} | {error, term()}.
address_please_each(Mod, Hosts, Family) ->
    each(fun(Host) -> Mod:address_please("app", Host, Family) end, Hosts).

%% inet:getaddr/2 of one host, N times: with ERL_INETRC naming it in a hosts
%% file, the static-file approach.
-spec getaddr(string(), pos_integer()) -> {ok, [non_neg_integer()]} | {error, term()}.
getaddr(Host, N) ->
    case inet:getaddr(Host, inet) of
        {ok, _} -> times(fun() -> {ok, _} = inet:getaddr(Host, inet) end, N);
        Other -> {error, {getaddr, Host, Other}}
    end.

%% The floor: an ETS lookup of a host in a table of all of them, timed the
%% same way (so it includes the cost of reading the clock twice).
-spec ets_floor([{string(), inet:ip_address()}], pos_integer()) ->
          {ok, [non_neg_integer()]}.
ets_floor([{Host, _} | _] = Entries, N) ->
    T = ets:new(bench_floor, [set, public, {read_concurrency, true}]),
    true = ets:insert(T, Entries),
    Result = times(fun() -> [{_, _}] = ets:lookup(T, Host) end, N),
    ets:delete(T),
    Result.

%% A ping of this node's helper, N times: the port round trip through the
%% port owner and the helper, without a lookup.
-spec ping(pos_integer()) -> {ok, [non_neg_integer()]} | {error, term()}.
ping(N) ->
    %% {pong, Version, Protocol} from protocol 2 on, {pong, Version} before.
    Pong = fun() -> element(1, epmd_docker_helper:request(ping)) =:= pong end,
    case Pong() of
        true -> times(fun() -> true = Pong() end, N);
        false -> {error, {ping, epmd_docker_helper:request(ping)}}
    end.

%% The floor of any port program: a {packet,4} frame the size of a lookup
%% request echoed by cat(1), N times, from this process directly.
-spec port_echo(pos_integer()) -> {ok, [non_neg_integer()]} | {error, term()}.
port_echo(N) ->
    case os:find_executable("cat") of
        false ->
            {error, no_cat};
        Cat ->
            Port = open_port({spawn_executable, Cat}, [{packet, 4}, binary, exit_status]),
            Frame = term_to_binary({1, {resolve, <<"3f2a9c1b7d4e">>, inet}}),
            Echo = fun() ->
                           true = port_command(Port, Frame),
                           receive {Port, {data, _}} -> ok after 5000 -> exit(no_echo) end
                   end,
            Result = times(Echo, N),
            port_close(Port),
            Result
    end.

%% epmd_docker:resolve/1 of hosts that no container answers to: each is a
%% miss that the helper checks with a round (one list of every running
%% container). resolve/1, not address_please/3, so that the fallback to
%% ordinary resolution (DNS) is not timed too.
-spec resolve_each([string()]) -> {ok, [non_neg_integer()]} | {error, term()}.
resolve_each(Hosts) ->
    each(fun(Host) ->
                 case epmd_docker:resolve(Host) of
                     {error, not_found} -> {ok, not_found};
                     Other -> Other
                 end
         end, Hosts).

%% How long a Docker event takes to reach this node's table: Host (the
%% name of the running container Id) is looked up until it is warm, the
%% container is stopped with the docker CLI, and from the moment that
%% returns, Host is looked up again and again until it no longer resolves.
%% One timing, or an error if it still resolves after TimeoutMs.
-spec until_gone(string(), string(), pos_integer()) ->
          {ok, [non_neg_integer()]} | {error, term()}.
until_gone(Id, Host, TimeoutMs) ->
    case epmd_docker:resolve(Host) of
        {ok, _} ->
            _ = epmd_docker:resolve(Host),
            _ = os:cmd("docker stop -t 0 " ++ Id),
            T0 = erlang:monotonic_time(),
            Deadline = T0 + erlang:convert_time_unit(TimeoutMs, millisecond, native),
            gone(Host, T0, Deadline);
        Other ->
            {error, {first_lookup, Host, Other}}
    end.

gone(Host, T0, Deadline) ->
    case epmd_docker:resolve(Host) of
        {error, not_found} ->
            {ok, [ns(erlang:monotonic_time() - T0)]};
        Other ->
            case erlang:monotonic_time() > Deadline of
                true ->
                    {error, {still_resolves, Host, Other}};
                false ->
                    erlang:yield(),
                    gone(Host, T0, Deadline)
            end
    end.

%% N lookups at once, each in a process of its own, of the hosts in Pairs
%% ({Host, Ip}) in turn. Returns the timings of the correct answers and how
%% many were not the container's address.
-spec burst([{string(), inet:ip_address()}], pos_integer()) ->
          {ok, [non_neg_integer()], non_neg_integer()}.
burst(Pairs, N) ->
    Parent = self(),
    Go = make_ref(),
    Tuple = list_to_tuple(Pairs),
    Pids = [spawn(fun() ->
                          {Host, Ip} = element(1 + I rem tuple_size(Tuple), Tuple),
                          receive Go -> ok end,
                          T0 = erlang:monotonic_time(),
                          R = epmd_docker:address_please("app", Host, inet),
                          T1 = erlang:monotonic_time(),
                          Parent ! {self(), R =:= {ok, Ip}, ns(T1 - T0)}
                  end) || I <- lists:seq(0, N - 1)],
    _ = [P ! Go || P <- Pids],
    Results = [receive {P, Ok, T} -> {Ok, T} after 60000 -> {false, 0} end || P <- Pids],
    {ok, [T || {true, T} <- Results], length([x || {false, _} <- Results])}.

%% Connections

%% net_kernel:connect_node/1 to Node, N times, disconnecting (and waiting
%% for nodedown) between tries. The pause after each disconnect lets the
%% other node finish its side before the next setup.
-spec connect(node(), pos_integer()) -> {ok, [non_neg_integer()]} | {error, term()}.
connect(Node, N) ->
    connect(Node, N, 20).

%% As connect/2, with a pause of GapMs after each disconnect: long enough,
%% and a Kubernetes port-forward closes when idle, so that each connection
%% opens a new one.
-spec connect(node(), pos_integer(), non_neg_integer()) ->
          {ok, [non_neg_integer()]} | {error, term()}.
connect(Node, N, GapMs) ->
    _ = disconnect([Node]),
    connect(Node, N, GapMs, []).

connect(_Node, 0, _GapMs, Acc) ->
    {ok, lists:reverse(Acc)};
connect(Node, N, GapMs, Acc) ->
    T0 = erlang:monotonic_time(),
    Result = net_kernel:connect_node(Node),
    T1 = erlang:monotonic_time(),
    case Result of
        true ->
            case disconnect([Node]) of
                ok ->
                    timer:sleep(GapMs),
                    connect(Node, N - 1, GapMs, [ns(T1 - T0) | Acc]);
                Error ->
                    Error
            end;
        _ ->
            {error, {connect_failed, Node, length(Acc)}}
    end.

%% Connects to all of Nodes from nothing, Reps times: one after the other
%% (seq) or all at once (par). Each timing is for the whole set.
-spec cluster([node()], seq | par, pos_integer()) ->
          {ok, [non_neg_integer()]} | {error, term()}.
cluster(Nodes, Mode, Reps) ->
    cluster(Nodes, Mode, Reps, []).

cluster(_Nodes, _Mode, 0, Acc) ->
    {ok, lists:reverse(Acc)};
cluster(Nodes, Mode, Reps, Acc) ->
    case disconnect(Nodes) of
        ok ->
            timer:sleep(20),
            T0 = erlang:monotonic_time(),
            Results = connect_all(Nodes, Mode),
            T1 = erlang:monotonic_time(),
            case [N || {N, R} <- lists:zip(Nodes, Results), R =/= true] of
                [] -> cluster(Nodes, Mode, Reps - 1, [ns(T1 - T0) | Acc]);
                Failed -> {error, {connect_failed, Failed}}
            end;
        Error ->
            Error
    end.

connect_all(Nodes, seq) ->
    [net_kernel:connect_node(N) || N <- Nodes];
connect_all(Nodes, par) ->
    Parent = self(),
    Jobs = [begin
                Tag = make_ref(),
                {Pid, Ref} = spawn_monitor(fun() -> Parent ! {Tag, net_kernel:connect_node(N)} end),
                {Tag, Pid, Ref}
            end || N <- Nodes],
    Deadline = erlang:monotonic_time(millisecond) + ?CONNECT_TIMEOUT,
    [collect(Job, Deadline) || Job <- Jobs].

collect({Tag, Pid, Ref}, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Tag, Result} ->
            erlang:demonitor(Ref, [flush]),
            Result;
        {'DOWN', Ref, process, Pid, Why} ->
            {down, Why}
    after Left ->
            exit(Pid, kill),
            timeout
    end.

%% Disconnects from Nodes and waits until each is down.
disconnect(Nodes) ->
    Connected = [N || N <- Nodes, lists:member(N, erlang:nodes(connected))],
    [erlang:monitor_node(N, true) || N <- Connected],
    [erlang:disconnect_node(N) || N <- Connected],
    Deadline = erlang:monotonic_time(millisecond) + ?CONNECT_TIMEOUT,
    wait_down(Connected, Deadline).

wait_down([], _Deadline) ->
    ok;
wait_down([N | Rest], Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {nodedown, N} -> wait_down(Rest, Deadline)
    after Left ->
            {error, {still_connected, N}}
    end.

%% The helper

%% The OS process id of this node's epmd-docker helper.
-spec helper_pid() -> {ok, non_neg_integer()} | {error, no_helper}.
helper_pid() ->
    Pids = [Pid || P <- erlang:ports(),
                   {name, Name} <- [erlang:port_info(P, name)],
                   string:find(Name, "epmd-docker") =/= nomatch,
                   {os_pid, Pid} <- [erlang:port_info(P, os_pid)]],
    case Pids of
        [Pid | _] -> {ok, Pid};
        [] -> {error, no_helper}
    end.

%% Procs processes calling epmd_docker:address_please/3 as fast as they can
%% for Ms milliseconds, each going round Hosts. Returns the number of calls
%% answered with an address, and how many were not.
-spec load([string()], pos_integer(), pos_integer()) ->
          {ok, non_neg_integer(), non_neg_integer()}.
load(Hosts, Procs, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    Parent = self(),
    Pids = [spawn_link(fun() -> Parent ! {self(), hammer(Hosts, Hosts, Deadline, 0, 0)} end)
            || _ <- lists:seq(1, Procs)],
    Counts = [receive {P, C} -> C after Ms + ?CONNECT_TIMEOUT -> {0, 0} end || P <- Pids],
    {ok, lists:sum([Ok || {Ok, _} <- Counts]), lists:sum([Bad || {_, Bad} <- Counts])}.

hammer([], All, Deadline, Ok, Bad) ->
    hammer(All, All, Deadline, Ok, Bad);
hammer([H | Rest], All, Deadline, Ok, Bad) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true ->
            {Ok, Bad};
        false ->
            case epmd_docker:address_please("app", H, inet) of
                {ok, _} -> hammer(Rest, All, Deadline, Ok + 1, Bad);
                _ -> hammer(Rest, All, Deadline, Ok, Bad + 1)
            end
    end.

%% Start-up

%% For a node started just now with -epmd_module epmd_docker: how long the
%% first address_please/3 of a container takes (the helper starting, and its
%% first list and inspects), printed as one line; then the node halts.
-spec first_lookup(string()) -> no_return().
first_lookup(Host) ->
    T0 = erlang:monotonic_time(),
    Result = epmd_docker:address_please("app", Host, inet),
    T1 = erlang:monotonic_time(),
    case Result of
        {ok, _} -> io:format("@@FIRST ~b~n", [ns(T1 - T0)]);
        Other -> io:format("@@FIRST error ~0tp~n", [Other])
    end,
    erlang:halt(0).

%% Internal

%% Fun() N times, each timed.
times(Fun, N) ->
    times(Fun, N, []).

times(_Fun, 0, Acc) ->
    {ok, lists:reverse(Acc)};
times(Fun, N, Acc) ->
    T0 = erlang:monotonic_time(),
    Fun(),
    T1 = erlang:monotonic_time(),
    times(Fun, N - 1, [ns(T1 - T0) | Acc]).

%% Fun(Item) for each item, each timed; the first answer that is not
%% {ok, _} stops the run.
each(Fun, Items) ->
    each(Fun, Items, []).

each(_Fun, [], Acc) ->
    {ok, lists:reverse(Acc)};
each(Fun, [Item | Rest], Acc) ->
    T0 = erlang:monotonic_time(),
    Result = Fun(Item),
    T1 = erlang:monotonic_time(),
    case Result of
        {ok, _} -> each(Fun, Rest, [ns(T1 - T0) | Acc]);
        Other -> {error, {Item, Other}}
    end.

ns(Native) ->
    erlang:convert_time_unit(Native, native, nanosecond).
