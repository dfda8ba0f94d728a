%% epmd_docker's callbacks and epmd_docker_dist:select/1 against the fake
%% helpers, run by the port owner registered as this node's: containers
%% resolve, ordinary hosts fall back to inet, and nothing raises or waits
%% longer than the request timeout allows.
-module(epmd_docker_tests).

-include_lib("eunit/include/eunit.hrl").

-define(TIMEOUT, "500").

resolution_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     fun(Dir) ->
             {inorder,
              [{timeout, 30, {Title, fun() -> Test(Dir) end}}
               || {Title, Test} <- [{"containers and ordinary hosts", fun good/1},
                                    {"missing helper", fun missing/1},
                                    {"silent helper", fun silent/1},
                                    {"owner started on demand", fun on_demand/1}]]}
     end}.

setup() ->
    Old = os:getenv("EPMD_DOCKER_TIMEOUT"),
    os:putenv("EPMD_DOCKER_TIMEOUT", ?TIMEOUT),
    epmd_docker_fake:collect_logs(),
    stop_owner(),
    {epmd_docker_fake:setup(), Old}.

cleanup({Dir, Old}) ->
    stop_owner(),
    epmd_docker_fake:stop_collecting(),
    epmd_docker_fake:cleanup(Dir),
    case Old of
        false -> os:unsetenv("EPMD_DOCKER_TIMEOUT");
        _ -> os:putenv("EPMD_DOCKER_TIMEOUT", Old)
    end.

good({Dir, _}) ->
    start_owner(Dir, good),
    %% The fake is an escript: on a loaded machine it can take longer to
    %% start than the short request timeout these tests use.
    wait_ready(300),
    ?assertEqual({ok, {10, 1, 2, 3}}, epmd_docker:address_please("app", "known", inet)),
    ?assertEqual({ok, {10, 1, 2, 3}}, epmd_docker:resolve(known)),
    %% Not a container: ordinary resolution.
    ?assertEqual({error, not_found}, epmd_docker:resolve("localhost")),
    ?assertEqual({ok, {127, 0, 0, 1}},
                 epmd_docker:address_please("app", "localhost", inet)),
    %% Ambiguous: an error, never a guess, and one line naming candidates.
    ?assertEqual({error, ambiguous}, epmd_docker:address_please("app", "amb", inet)),
    ?assert(logged(["amb", "a (111111111111)", "b (222222222222)"])),
    ?assertEqual({error, no_address},
                 epmd_docker:address_please("app", "known", inet6)),
    %% Resolves nowhere: an inet error, within the timeouts, and a line
    %% naming the host and both reasons.
    {Micros, Nowhere} =
        timer:tc(fun() ->
                         epmd_docker:address_please("app", "dockerdown", inet)
                 end),
    ?assertMatch({error, _}, Nowhere),
    ?assert(Micros < 2 * 1000 * list_to_integer(?TIMEOUT) + 1000000),
    ?assert(logged(["dockerdown", "resolves nowhere",
                    "the Docker daemon cannot be reached"])),
    %% The -proto_dist shim selects what address_please/3 resolves.
    ?assert(epmd_docker_dist:select('app@known')),
    ?assert(epmd_docker_dist:select('app@localhost')),
    ?assertNot(epmd_docker_dist:select('app@amb')),
    ?assertNot(epmd_docker_dist:select('app')),
    %% No epmd answers at 10.1.2.3: names/1 and port_please/3 give up in time.
    {NamesMicros, Names} = timer:tc(fun() -> epmd_docker:names("known") end),
    ?assertEqual({error, address}, Names),
    ?assert(NamesMicros < 1000 * list_to_integer(?TIMEOUT) + 1000000),
    ?assertEqual(noport, epmd_docker:port_please("app", "amb")),
    %% The fake's containers have no reachable epmd: no nodes, in time.
    {NodesMicros, Nodes} = timer:tc(fun epmd_docker:nodes/0),
    ?assertEqual([], Nodes),
    ?assert(NodesMicros < 1000 * list_to_integer(?TIMEOUT) + 2000000),
    ?assertMatch({ok, [_, _]}, epmd_docker:containers()),
    stop_owner().

missing({Dir, _}) ->
    start_owner(Dir, missing),
    {Micros, Answer} =
        timer:tc(fun() -> epmd_docker:address_please("app", "localhost", inet) end),
    ?assertEqual({ok, {127, 0, 0, 1}}, Answer),
    ?assert(Micros < 500000),
    ?assertEqual({error, helper_unavailable}, epmd_docker:resolve("known")),
    stop_owner().

%% A helper that does not answer: the lookup fails within the timeout, and
%% is not answered by DNS instead (issue 11: a container's name got
%% nxdomain, or another host's address); later ones fail at once.
silent({Dir, _}) ->
    start_owner(Dir, silent),
    {Micros, Answer} =
        timer:tc(fun() -> epmd_docker:address_please("app", "localhost", inet) end),
    ?assertEqual({error, timeout}, Answer),
    ?assert(Micros < 1000 * list_to_integer(?TIMEOUT) + 1000000),
    {FastMicros, Fast} =
        timer:tc(fun() -> epmd_docker:address_please("app", "localhost", inet) end),
    ?assertEqual({error, unresponsive}, Fast),
    ?assert(FastMicros < 200000),
    ?assert(logged(["cannot look up localhost", "not answering"])),
    stop_owner().

%% Without -epmd_module epmd_docker nothing starts the owner; the public API
%% starts one, with the helper the settings name, and answers all the same.
on_demand({Dir, _}) ->
    stop_owner(),
    ?assertEqual(undefined, whereis(epmd_docker_helper)),
    Old = os:getenv("EPMD_DOCKER_HELPER"),
    os:putenv("EPMD_DOCKER_HELPER", epmd_docker_fake:path(Dir, good)),
    try
        %% The first request may meet the escript still starting.
        wait_ready(300),
        ?assertEqual({ok, {10, 1, 2, 3}}, epmd_docker:resolve("known")),
        ?assertEqual({error, not_found}, epmd_docker:resolve("epmd-docker-no-such-host")),
        ?assertMatch(#{path := Path} when is_list(Path),
                     epmd_docker_helper:status(epmd_docker_helper)),
        ?assertEqual(epmd_docker_fake:path(Dir, good),
                     maps:get(path, epmd_docker_helper:status(epmd_docker_helper))),
        %% net_sup's start_link then finds it running and supervises nothing.
        ?assertEqual(ignore, epmd_docker:start_link())
    after
        case Old of
            false -> os:unsetenv("EPMD_DOCKER_HELPER");
            _ -> os:putenv("EPMD_DOCKER_HELPER", Old)
        end
    end,
    stop_owner().

%% Helpers

%% Until the escript fake has started and answered its handshake: a slow
%% start must not be taken for a slow answer.
wait_ready(0) ->
    error(fake_helper_never_answered);
wait_ready(N) ->
    case epmd_docker_helper:status(epmd_docker_helper) of
        #{protocol := 2} ->
            ok;
        {error, helper_down} ->
            _ = epmd_docker_helper:request(ping),
            wait_ready(N - 1);
        _ ->
            timer:sleep(100),
            wait_ready(N - 1)
    end.

start_owner(Dir, Mode) ->
    stop_owner(),
    {ok, _} = epmd_docker_helper:start(#{helper => epmd_docker_fake:path(Dir, Mode)}).

stop_owner() ->
    case whereis(epmd_docker_helper) of
        undefined -> ok;
        Pid -> epmd_docker_helper:stop(Pid)
    end.

logged(Parts) ->
    lists:any(fun(Line) ->
                      lists:all(fun(P) -> string:find(Line, P) =/= nomatch end, Parts)
              end, epmd_docker_fake:logs()).
