%% Fake epmd-docker helpers for the tests: small programs written into a
%% temporary directory, each misbehaving in one way the port owner must
%% survive. They are fakes on purpose: a real helper cannot be made to send
%% garbage or hang on demand. The real binary has its own round-trip test.
-module(epmd_docker_fake).

-export([setup/0]).
-export([cleanup/1]).
-export([path/2]).
-export([fatal_message/0]).
-export([runs/2]).
-export([collect_logs/0]).
-export([stop_collecting/0]).
-export([logs/0]).
-export([log/2]).

%% The fakes, each a program of its own, named after its mode:
%%   good      answers like the helper (see answer/1 below), speaks
%%             protocol 2 and pushes {stream, up} when it starts; a few host
%%             names drive pushes (see handle/4)
%%   proto1    like good, but answers ping as a protocol 1 helper did
%%   version   like good, but reports version 9.9.9-fake
%%   improper  answers resolve with an improper list of candidates
%%   fatal     pushes {fatal, Message} and exits 78, as the helper does for
%%             a bad setting; each run adds a line to fatal.runs
%%   corrupt   exits 3 at the first request of its first two runs, 65 at
%%             that of its third (corrupt input), then is good
%%   garbage   sends unreadable frames before each answer
%%   silent    reads requests and never answers
%%   exit      exits with status 3 at the first request
%%   flaky     exits at the first request of its first run, then is good
%%   crash     exits with status 1 at once, every time
%%   badshape  answers every request with a reply of the wrong shape
%%   bigprefix writes a length prefix of 4 GiB, then reads and never answers
%%   stuck     neither reads nor answers, and so never sees its stdin close
%%   deaf      closes its stdin at once and never answers nor exits
%% and three programs that cannot be run: noexec (no execute permission),
%% noshebang (executable, but neither a binary nor a #! script) and a
%% directory, dir.

-define(FATAL, <<"EPMD_DOCKER_TTL=bogus is not a duration (such as 30s)">>).

-define(ESCRIPT, <<"#!/usr/bin/env escript
%%! -noinput

main([Mode | _]) ->
    Port = open_port({fd, 0, 1}, [binary, {packet, 4}, eof]),
    put(asked, 0),
    send(Port, term_to_binary({push, {stream, up}})),
    loop(Port, Mode).

loop(Port, Mode) ->
    receive
        {Port, {data, Frame}} ->
            {Tag, Command} = binary_to_term(Frame),
            handle(Port, Mode, Tag, Command),
            loop(Port, Mode);
        {Port, eof} ->
            halt(0)
    end.

handle(Port, \"garbage\", Tag, Command) ->
    send(Port, <<\"junk\">>),
    %% {1, zz_never_an_atom_anywhere}: an atom the VM must not create.
    Name = <<\"zz_never_an_atom_anywhere\">>,
    send(Port, <<131, 104, 2, 97, 1, 119, (byte_size(Name)), Name/binary>>),
    send(Port, term_to_binary({not_a_tag, ok})),
    handle(Port, \"good\", Tag, Command);
handle(Port, \"badshape\", Tag, _Command) ->
    send(Port, term_to_binary({Tag, {ok, \"10.0.0.1\"}}));
handle(Port, \"proto1\", Tag, ping) ->
    send(Port, term_to_binary({Tag, {pong, <<\"fake\">>}}));
handle(Port, \"version\", Tag, ping) ->
    send(Port, term_to_binary({Tag, {pong, <<\"9.9.9-fake\">>, 2}}));
handle(Port, \"improper\", Tag, {resolve, _, _}) ->
    send(Port, term_to_binary({Tag, {error, {ambiguous, [<<\"a (1)\">> | ok]}}}));
handle(Port, Mode, Tag, Command) when Mode =/= \"good\", Mode =/= \"garbage\" ->
    handle(Port, \"good\", Tag, Command);
%% counter: an address that counts how often the helper was asked, so a
%% test sees which answers came from the owner's table.
handle(Port, \"good\", Tag, {resolve, <<\"counter\">>, inet}) ->
    put(asked, get(asked) + 1),
    send(Port, term_to_binary({Tag, {ok, {10, 0, 0, get(asked)}}}));
handle(Port, \"good\", Tag, {resolve, <<\"forget-counter\">>, _}) ->
    send(Port, term_to_binary({push, {invalidate, [<<\"counter\">>]}})),
    send(Port, term_to_binary({Tag, {error, not_found}}));
handle(Port, \"good\", Tag, {resolve, <<\"forget-all\">>, _}) ->
    send(Port, term_to_binary({push, {invalidate, all}})),
    send(Port, term_to_binary({Tag, {error, not_found}}));
handle(Port, \"good\", Tag, {resolve, <<\"stream-down\">>, _}) ->
    send(Port, term_to_binary({push, {stream, down}})),
    send(Port, term_to_binary({Tag, {error, not_found}}));
handle(Port, \"good\", Tag, {resolve, <<\"stream-up\">>, _}) ->
    send(Port, term_to_binary({push, {stream, up}})),
    send(Port, term_to_binary({Tag, {error, not_found}}));
%% racy: an invalidation pushed after the request was read and before its
%% reply, as when a Docker event arrives while a lookup runs.
handle(Port, \"good\", Tag, {resolve, <<\"racy\">>, inet}) ->
    put(asked, get(asked) + 1),
    send(Port, term_to_binary({push, {invalidate, all}})),
    send(Port, term_to_binary({Tag, {ok, {10, 0, 1, get(asked)}}}));
%% never: no answer to this one, while everything else is answered.
handle(_Port, \"good\", _Tag, {resolve, <<\"never\">>, _}) ->
    ok;
handle(Port, \"good\", Tag, {resolve, <<\"slow\">>, _}) ->
    spawn(fun() ->
                  timer:sleep(300),
                  send(Port, term_to_binary({Tag, {ok, {10, 9, 9, 9}}}))
          end);
handle(Port, \"good\", Tag, Command) ->
    send(Port, term_to_binary({Tag, answer(Command)})).

answer(ping) -> {pong, <<\"fake\">>, 2};
answer({resolve, <<\"known\">>, inet}) -> {ok, {10, 1, 2, 3}};
answer({resolve, <<\"known\">>, inet6}) -> {error, no_address};
answer({resolve, <<\"amb\">>, _}) ->
    {error, {ambiguous, [<<\"a (111111111111)\">>, <<\"b (222222222222)\">>]}};
answer({resolve, <<\"dockerdown\">>, _}) -> {error, docker_unavailable};
answer({resolve, _, _}) -> {error, not_found};
answer(list) ->
    {ok, [{<<\"111111111111aaaa\">>, <<\"web\">>, <<\"111111111111\">>,
           {10, 1, 2, 3}},
          {<<\"222222222222bbbb\">>, <<\"db\">>, <<\"222222222222\">>, none}]};
answer(_) -> {error, bad_request}.

send(Port, Bin) ->
    erlang:port_command(Port, Bin).
">>).

%% A fresh directory with fake.escript and one wrapper per mode, plus the
%% names of a missing and a non-executable program.
-spec setup() -> file:filename().
setup() ->
    Dir = filename:join(temp_dir(), "epmd_docker_fake_" ++ os:getpid() ++ "_"
                        ++ integer_to_list(erlang:unique_integer([positive]))),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Escript = filename:join(Dir, "fake.escript"),
    ok = file:write_file(Escript, ?ESCRIPT),
    Marker = filename:join(Dir, "flaky.marker"),
    Counter = filename:join(Dir, "corrupt.runs"),
    Run = fun(Mode) -> ["exec escript '", Escript, "' ", Mode, " \"$@\"\n"] end,
    %% The modes that need no Erlang terms are shell scripts: they start at
    %% once, which keeps the timing assertions honest.
    Scripts = [{good, Run("good")},
               {garbage, Run("garbage")},
               {proto1, Run("proto1")},
               {version, Run("version")},
               {improper, Run("improper")},
               {fatal, ["echo run >>'", filename:join(Dir, "fatal.runs"), "'\n",
                        "printf '", octal(frame(term_to_binary({push, {fatal, ?FATAL}}))),
                        "'\nexit 78\n"]},
               {corrupt, ["n=$(cat '", Counter, "' 2>/dev/null | wc -l)\n",
                          "echo run >>'", Counter, "'\n",
                          "case $n in\n",
                          "  0|1) head -c 1 >/dev/null; exit 3;;\n",
                          "  2) head -c 1 >/dev/null; exit 65;;\n",
                          "esac\n",
                          Run("good")]},
               {badshape, Run("badshape")},
               {silent, "exec cat >/dev/null\n"},
               {bigprefix, "printf '\\377\\377\\377\\377'\nexec cat >/dev/null\n"},
               {stuck, "exec sleep 3600\n"},
               {deaf, "exec sleep 3600 </dev/null\n"},
               {exit, "head -c 1 >/dev/null\nexit 3\n"},
               {crash, "exit 1\n"},
               {flaky, ["if [ ! -e '", Marker, "' ]; then\n",
                        "  touch '", Marker, "'\n",
                        "  head -c 1 >/dev/null\n",
                        "  exit 3\n",
                        "fi\n",
                        Run("good")]}],
    lists:foreach(
      fun({Mode, Body}) ->
              Wrapper = filename:join(Dir, atom_to_list(Mode)),
              ok = file:write_file(Wrapper, ["#!/bin/sh\n", Body]),
              ok = file:change_mode(Wrapper, 8#755)
      end, Scripts),
    ok = file:write_file(filename:join(Dir, "noexec"), <<"#!/bin/sh\n">>),
    ok = file:change_mode(filename:join(Dir, "noexec"), 8#644),
    ok = file:write_file(filename:join(Dir, "noshebang"), <<"echo hello\n">>),
    ok = file:change_mode(filename:join(Dir, "noshebang"), 8#755),
    case file:make_dir(filename:join(Dir, "dir")) of
        ok -> ok;
        {error, eexist} -> ok
    end,
    Dir.

%% The message the fatal fake sends, as the helper would word it.
-spec fatal_message() -> binary().
fatal_message() ->
    ?FATAL.

%% How often the fatal fake was started.
-spec runs(file:filename(), atom()) -> non_neg_integer().
runs(Dir, Mode) ->
    case file:read_file(filename:join(Dir, atom_to_list(Mode) ++ ".runs")) of
        {ok, Bin} -> length(binary:matches(Bin, <<"run">>));
        {error, enoent} -> 0
    end.

frame(Bin) ->
    <<(byte_size(Bin)):32, Bin/binary>>.

%% For printf(1): every byte as an octal escape.
octal(Bin) ->
    [io_lib:format("\\~3.8.0b", [B]) || <<B>> <= Bin].

-spec cleanup(file:filename()) -> ok.
cleanup(Dir) ->
    _ = file:del_dir_r(Dir),
    ok.

%% The program for a mode, or missing / noexec.
-spec path(file:filename(), atom()) -> file:filename().
path(Dir, missing) ->
    filename:join(Dir, "no-such-helper");
path(Dir, Mode) ->
    filename:join(Dir, atom_to_list(Mode)).

%% Log capture: every log event mentioning epmd_docker is kept, so tests can
%% count the lines a failure produces.
-spec collect_logs() -> ok.
collect_logs() ->
    _ = stop_collecting(),
    Collector = spawn(fun() -> collector([]) end),
    ok = logger:add_handler(?MODULE, ?MODULE, #{config => #{collector => Collector},
                                                level => all}).

-spec stop_collecting() -> ok | {error, term()}.
stop_collecting() ->
    case logger:get_handler_config(?MODULE) of
        {ok, #{config := #{collector := Collector}}} ->
            exit(Collector, kill),
            logger:remove_handler(?MODULE);
        _ ->
            ok
    end.

%% The epmd_docker log lines so far, oldest first.
-spec logs() -> [string()].
logs() ->
    {ok, #{config := #{collector := Collector}}} =
        logger:get_handler_config(?MODULE),
    Collector ! {get, self()},
    receive {logs, Lines} -> Lines after 1000 -> [] end.

%% logger handler callback.
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(#{msg := Msg}, #{config := #{collector := Collector}}) ->
    Text = case Msg of
               {report, Report} -> io_lib:format("~tp", [Report]);
               {string, String} -> String;
               {Format, Args} -> io_lib:format(Format, Args)
           end,
    Line = unicode:characters_to_list(Text),
    case string:find(Line, "epmd_docker") of
        nomatch -> ok;
        _ -> Collector ! {line, Line}
    end,
    ok.

collector(Lines) ->
    receive
        {line, Line} -> collector([Line | Lines]);
        {get, From} -> From ! {logs, lists:reverse(Lines)}, collector(Lines)
    end.

temp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        Dir -> Dir
    end.
