%% The port owner against fake helpers that misbehave, and against the real
%% helper when it has been built. Every failure must reach the caller as
%% {error, Reason} within a bounded time, and the owner must stay alive.
-module(epmd_docker_helper_tests).

-include_lib("eunit/include/eunit.hrl").

%% Generous: the escript fakes take a moment to start.
-define(T, 5000).

%% Fixtures

fake_test_() ->
    {setup, fun epmd_docker_fake:setup/0, fun epmd_docker_fake:cleanup/1,
     fun(Dir) ->
             {inorder,
              tests(Dir, [fun answers/1, fun answers_out_of_order/1,
                          fun garbage_is_ignored/1, fun bad_shape_is_an_error/1,
                          fun silent_helper_times_out/1, fun exiting_helper/1,
                          fun flaky_helper_recovers/1,
                          fun crashing_helper_keeps_owner_alive/1,
                          fun helper_built_later/1,
                          fun length_prefix_out_of_step/1,
                          fun stuck_helper_is_killed/1,
                          fun deaf_helper_is_killed/1])}
     end}.

logged_test_() ->
    %% Counts log lines, so these run one at a time.
    {setup,
     fun() -> epmd_docker_fake:collect_logs(), epmd_docker_fake:setup() end,
     fun(Dir) -> epmd_docker_fake:stop_collecting(), epmd_docker_fake:cleanup(Dir) end,
     fun(Dir) ->
             tests(Dir, [fun missing_helper/1, fun not_executable_helper/1,
                         fun not_a_program/1, fun directory_helper/1])
     end}.

tests(Dir, Tests) ->
    [{timeout, 20, {atom_to_list(element(2, erlang:fun_info(Test, name))),
                    fun() -> Test(Dir) end}}
     || Test <- Tests].

%% Tests, one per fake

answers(Dir) ->
    Owner = start(Dir, good),
    ?assertEqual({pong, <<"fake">>}, request(Owner, ping)),
    ?assertEqual({ok, {10, 1, 2, 3}}, request(Owner, {resolve, <<"known">>, inet})),
    ?assertEqual({error, no_address},
                 request(Owner, {resolve, <<"known">>, inet6})),
    ?assertEqual({error, not_found}, request(Owner, {resolve, <<"web">>, inet})),
    ?assertEqual({error, {ambiguous, [<<"a (111111111111)">>,
                                      <<"b (222222222222)">>]}},
                 request(Owner, {resolve, <<"amb">>, inet})),
    ?assertMatch({ok, [{<<"111111111111aaaa">>, <<"web">>, <<"111111111111">>,
                        {10, 1, 2, 3}},
                       {_, <<"db">>, _, none}]},
                 request(Owner, list)),
    ?assertMatch(#{status := up, pending := 0}, epmd_docker_helper:status(Owner)),
    stop(Owner).

answers_out_of_order(Dir) ->
    Owner = start(Dir, good),
    Self = self(),
    Ask = fun(Host) ->
                  spawn_link(fun() ->
                                     Answer = request(Owner, {resolve, Host, inet}),
                                     Self ! {answer, Host, Answer}
                             end)
          end,
    Ask(<<"slow">>),
    timer:sleep(50),
    Ask(<<"known">>),
    %% The warm lookup is not held up by the cold one before it.
    ?assertEqual({answer, <<"known">>, {ok, {10, 1, 2, 3}}}, next_answer()),
    ?assertEqual({answer, <<"slow">>, {ok, {10, 9, 9, 9}}}, next_answer()),
    stop(Owner).

garbage_is_ignored(Dir) ->
    Owner = start(Dir, garbage),
    ?assertEqual({pong, <<"fake">>}, request(Owner, ping)),
    ?assertEqual({ok, {10, 1, 2, 3}}, request(Owner, {resolve, <<"known">>, inet})),
    ?assert(is_process_alive(Owner)),
    ?assertMatch(#{status := up}, epmd_docker_helper:status(Owner)),
    stop(Owner).

bad_shape_is_an_error(Dir) ->
    Owner = start(Dir, badshape),
    ?assertEqual({error, bad_reply}, request(Owner, {resolve, <<"known">>, inet})),
    ?assertEqual({error, bad_reply}, request(Owner, ping)),
    ?assert(is_process_alive(Owner)),
    stop(Owner).

silent_helper_times_out(Dir) ->
    Owner = start(Dir, silent),
    {Micros, Answer} = timer:tc(fun() ->
                                        epmd_docker_helper:request(Owner, ping, 300)
                                end),
    ?assertEqual({error, timeout}, Answer),
    ?assert(Micros < 1000000),
    %% Silent for five seconds while requests time out: restarted as hung.
    ask_silent(Owner, erlang:monotonic_time(millisecond) + 6000),
    ?assertMatch(#{restarts := N} when N >= 1, epmd_docker_helper:status(Owner)),
    ?assert(is_process_alive(Owner)),
    wait_status(Owner, up),
    stop(Owner).

ask_silent(Owner, Until) ->
    case erlang:monotonic_time(millisecond) < Until of
        true ->
            ?assertMatch({error, _}, epmd_docker_helper:request(Owner, ping, 300)),
            ask_silent(Owner, Until);
        false ->
            ok
    end.

exiting_helper(Dir) ->
    Owner = start(Dir, exit),
    {Micros, Answer} = timer:tc(fun() -> request(Owner, ping) end),
    %% helper_down as soon as it exits, not a timeout.
    ?assertEqual({error, helper_down}, Answer),
    ?assert(Micros < 1000000),
    ?assert(is_process_alive(Owner)),
    %% Restarted after the backoff.
    wait_status(Owner, up),
    stop(Owner).

flaky_helper_recovers(Dir) ->
    Owner = start(Dir, flaky),
    ?assertEqual({error, helper_down}, request(Owner, ping)),
    wait_status(Owner, up),
    ?assertEqual({pong, <<"fake">>}, request(Owner, ping)),
    stop(Owner).

crashing_helper_keeps_owner_alive(Dir) ->
    Owner = start(Dir, crash),
    Deadline = erlang:monotonic_time(millisecond) + 2500,
    Answers = ask_until(Owner, Deadline, []),
    %% Every answer is an error; on a loaded machine a request can also run
    %% out of time while the dying helper is being replaced.
    %% When a request meets the dying helper's closed stdin (epipe) before
    %% its exit status arrives, it counts as one that never started:
    %% helper_unavailable, retried on demand.
    ?assertEqual([], [A || A <- Answers,
                           A =/= {error, helper_down}, A =/= {error, timeout},
                           A =/= {error, helper_unavailable}]),
    ?assert(is_process_alive(Owner)),
    stop(Owner).

missing_helper(Dir) ->
    Before = length(epmd_docker_fake:logs()),
    Owner = start(Dir, missing),
    Answers = [timer:tc(fun() -> request(Owner, ping) end) || _ <- lists:seq(1, 5)],
    ?assertEqual([{error, helper_unavailable}], lists:usort([A || {_, A} <- Answers])),
    %% At once: callers fall back to ordinary resolution without waiting.
    ?assert(lists:all(fun({Micros, _}) -> Micros < 100000 end, Answers)),
    ?assertMatch(#{status := unavailable}, epmd_docker_helper:status(Owner)),
    %% One clear line, not one per request.
    New = lists:nthtail(Before, epmd_docker_fake:logs()),
    ?assertMatch([_], [L || L <- New, string:find(L, "cannot run the helper") =/= nomatch]),
    ?assertNotEqual(nomatch, string:find(hd(New), "no-such-helper")),
    stop(Owner).

not_executable_helper(Dir) ->
    Owner = start(Dir, noexec),
    ?assertEqual({error, helper_unavailable}, request(Owner, ping)),
    ?assert(is_process_alive(Owner)),
    stop(Owner).

%% Executable, but exec(2) refuses it: the port opens, then exits at once
%% with the errno. Treated like a missing helper: one log line, and
%% helper_unavailable at once, however often it is retried.
not_a_program(Dir) ->
    cannot_exec(Dir, noshebang, "exec format error").

directory_helper(Dir) ->
    cannot_exec(Dir, dir, "permission denied").

cannot_exec(Dir, Mode, Why) ->
    Before = length(epmd_docker_fake:logs()),
    Owner = start(Dir, Mode),
    %% Spread over more than the on-demand retry interval.
    Answers = [begin timer:sleep(300), request(Owner, ping) end
               || _ <- lists:seq(1, 8)],
    %% helper_down for a request sent to a retry that then failed.
    ?assertEqual([], [A || A <- Answers, A =/= {error, helper_unavailable},
                           A =/= {error, helper_down}]),
    ?assert(lists:member({error, helper_unavailable}, Answers)),
    ?assert(is_process_alive(Owner)),
    New = lists:nthtail(Before, epmd_docker_fake:logs()),
    Told = [L || L <- New, string:find(L, "cannot run the helper") =/= nomatch],
    ?assertMatch([_], Told),
    ?assertNotEqual(nomatch, string:find(hd(Told), Why)),
    ?assertEqual([], [L || L <- New, string:find(L, "restarting") =/= nomatch]),
    ?assert(is_process_alive(Owner)),
    stop(Owner).

%% A length prefix of 4 GiB: the port driver would allocate that much and
%% wait for it. The owner restarts the helper at once instead.
length_prefix_out_of_step(Dir) ->
    Owner = start(Dir, bigprefix),
    Before = erlang:memory(total),
    {Micros, Answer} = timer:tc(fun() -> request(Owner, ping) end),
    ?assertEqual({error, helper_down}, Answer),
    ?assert(Micros < 1000000),
    wait_restarts(Owner, 1),
    ?assert(erlang:memory(total) - Before < 64 * 1024 * 1024),
    ?assert(is_process_alive(Owner)),
    stop(Owner).

%% A helper that neither reads nor answers never sees its stdin close: once
%% it is found silent it is killed, not left behind.
stuck_helper_is_killed(Dir) ->
    Owner = start(Dir, stuck),
    #{os_pid := OsPid} = epmd_docker_helper:status(Owner),
    ?assert(is_integer(OsPid)),
    ?assert(os_process_alive(OsPid)),
    ask_silent(Owner, erlang:monotonic_time(millisecond) + 6000),
    ?assertMatch(#{restarts := N} when N >= 1, epmd_docker_helper:status(Owner)),
    ?assert(wait_os_exit(OsPid, 40)),
    stop(Owner).

%% A helper that closed its stdin makes the port fail with epipe, without an
%% exit status: it is killed as well. Never having answered, it counts as
%% one that cannot be run.
deaf_helper_is_killed(Dir) ->
    Owner = start(Dir, deaf),
    #{os_pid := OsPid} = epmd_docker_helper:status(Owner),
    ?assert(is_integer(OsPid)),
    timer:sleep(200),
    ?assertMatch({error, _}, request(Owner, ping)),
    ?assert(wait_os_exit(OsPid, 40)),
    ?assertMatch({error, _}, request(Owner, ping)),
    ?assert(is_process_alive(Owner)),
    stop(Owner).

helper_built_later(Dir) ->
    Path = filename:join(Dir, "built-later"),
    Owner = start_path(Path),
    ?assertEqual({error, helper_unavailable}, request(Owner, ping)),
    {ok, _} = file:copy(epmd_docker_fake:path(Dir, good), Path),
    ok = file:change_mode(Path, 8#755),
    %% Retried on demand, at most once a second.
    timer:sleep(1100),
    ?assertEqual({pong, <<"fake">>}, ping_until_pong(Owner, 4)),
    stop(Owner).

%% On a loaded machine the fake, an escript, may start slower than one
%% request's timeout; what matters is that the owner gets there by itself.
ping_until_pong(Owner, 1) ->
    request(Owner, ping);
ping_until_pong(Owner, N) ->
    case request(Owner, ping) of
        {pong, _} = Pong -> Pong;
        _ -> ping_until_pong(Owner, N - 1)
    end.

%% The caller's side never raises.

caller_test_() ->
    [{"no such process",
      ?_assertEqual({error, helper_down},
                    epmd_docker_helper:request(epmd_docker_no_such_owner, ping, 100))},
     {"dead pid",
      ?_assertEqual({error, helper_down},
                    epmd_docker_helper:request(dead_pid(), ping, 100))},
     {"server that never replies",
      fun() ->
              Mute = spawn(fun() -> receive stop -> ok end end),
              {Micros, Answer} =
                  timer:tc(fun() -> epmd_docker_helper:request(Mute, ping, 100) end),
              Mute ! stop,
              ?assertEqual({error, timeout}, Answer),
              ?assert(Micros < 1000000)
      end}].

%% The real helper, once `make priv/epmd-docker` has built it.

real_helper_test_() ->
    case real_helper() of
        undefined ->
            {"priv/epmd-docker not built: real round trip skipped", []};
        Path ->
            {timeout, 30,
             {"round trip with " ++ Path,
              fun() ->
                      Owner = start_path(Path),
                      ?assertMatch({pong, V} when is_binary(V), request(Owner, ping)),
                      ?assertEqual({error, not_found},
                                   request(Owner, {resolve,
                                                   <<"epmd-docker-no-such-host">>,
                                                   inet})),
                      ?assertMatch({ok, L} when is_list(L), request(Owner, list)),
                      stop(Owner)
              end}}
    end.

real_helper() ->
    Candidates = [filename:join(Dir, "epmd-docker")
                  || Dir <- [code:priv_dir(epmd_docker)], is_list(Dir)]
        ++ [filename:join([filename:dirname(code:which(epmd_docker_helper)),
                           "..", "priv", "epmd-docker"])
            || is_list(code:which(epmd_docker_helper))],
    case [P || P <- Candidates, filelib:is_regular(P)] of
        [Path | _] -> Path;
        [] -> undefined
    end.

%% Helpers

start(Dir, Mode) ->
    start_path(epmd_docker_fake:path(Dir, Mode)).

start_path(Path) ->
    {ok, Owner} = epmd_docker_helper:start(#{name => none, helper => Path}),
    Owner.

stop(Owner) ->
    ok = epmd_docker_helper:stop(Owner).

request(Owner, Command) ->
    epmd_docker_helper:request(Owner, Command, ?T).

next_answer() ->
    receive {answer, _, _} = A -> A after 5000 -> no_answer end.

wait_status(Owner, Want) ->
    wait_status(Owner, Want, 50).

wait_status(Owner, Want, 0) ->
    ?assertMatch(#{status := Want}, epmd_docker_helper:status(Owner));
wait_status(Owner, Want, N) ->
    case epmd_docker_helper:status(Owner) of
        #{status := Want} -> ok;
        _ -> timer:sleep(100), wait_status(Owner, Want, N - 1)
    end.

wait_restarts(Owner, N) ->
    wait_restarts(Owner, N, 50).

wait_restarts(Owner, N, 0) ->
    ?assertMatch(#{restarts := R} when R >= N, epmd_docker_helper:status(Owner));
wait_restarts(Owner, N, Tries) ->
    case epmd_docker_helper:status(Owner) of
        #{restarts := R} when R >= N -> ok;
        _ -> timer:sleep(100), wait_restarts(Owner, N, Tries - 1)
    end.

os_process_alive(OsPid) ->
    filelib:is_dir("/proc/" ++ integer_to_list(OsPid)).

wait_os_exit(OsPid, 0) ->
    not os_process_alive(OsPid);
wait_os_exit(OsPid, Tries) ->
    case os_process_alive(OsPid) of
        false -> true;
        true -> timer:sleep(100), wait_os_exit(OsPid, Tries - 1)
    end.

ask_until(Owner, Deadline, Acc) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true -> Acc;
        false ->
            A = request(Owner, ping),
            timer:sleep(50),
            ask_until(Owner, Deadline, [A | Acc])
    end.

dead_pid() ->
    Pid = spawn(fun() -> ok end),
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, process, Pid, _} -> Pid end.
