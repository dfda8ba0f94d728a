%% The request and reply shapes of the port protocol between the port owner
%% (epmd_docker_helper) and the epmd-docker helper. The grammar is written
%% once, in go/internal/wire/doc.go; this module encodes requests, decodes
%% replies, checks each reply against the shape its command allows, and turns
%% every reason into a sentence.
%%
%% Replies are decoded with binary_to_term(B, [safe]), which refuses to create
%% atoms. Every atom the grammar allows therefore appears literally in this
%% module, so it exists as soon as the module is loaded.
-module(epmd_docker_wire).

%% Codec
-export([encode/2]).
-export([decode/1]).
-export([check/2]).

%% Reasons
-export([reason/1]).

-export_type([tag/0]).
-export_type([command/0]).
-export_type([answer/0]).
-export_type([container/0]).
-export_type([reason/0]).

-define(MAX_TAG, 16#FFFFFFFF).

-type tag() :: 0..?MAX_TAG.
-type family() :: inet | inet6.
-type command() :: ping | {resolve, Host :: binary(), family()} | list | nodes.
-type container() :: {Id :: binary(), Name :: binary(), Hostname :: binary(),
                      inet:ip_address() | none}.
%% Reasons the helper sends, then those the port owner adds.
-type reason() :: not_found
                | {ambiguous, [binary()]}
                | no_address
                | not_published
                | docker_unavailable
                | timeout
                | bad_host
                | bad_request
                | helper_down
                | helper_unavailable
                | bad_reply.
-type answer() :: {pong, Version :: binary()}
                | {ok, inet:ip_address()}
                | {ok, inet:ip_address(), inet:port_number()}
                | {ok, [container()]}
                | {ok, [Node :: binary()]}
                | {error, reason()}.

%% Codec

-spec encode(tag(), command()) -> binary().
encode(Tag, Command) when is_integer(Tag), Tag >= 0, Tag =< ?MAX_TAG ->
    term_to_binary({Tag, Command}).

%% A frame whose tag cannot be read is garbage; the caller logs and skips it.
%% The answer is returned as sent: check/2 judges it against the command.
-spec decode(binary()) -> {ok, tag(), term()} | {error, garbage}.
decode(Frame) when is_binary(Frame) ->
    try binary_to_term(Frame, [safe]) of
        {Tag, Answer} when is_integer(Tag), Tag >= 0, Tag =< ?MAX_TAG ->
            {ok, Tag, Answer};
        _ ->
            {error, garbage}
    catch
        error:badarg ->
            {error, garbage}
    end.

%% The answer when it has a shape the command allows, else {error, bad_reply},
%% so callers only ever see the shapes in their specs.
-spec check(command(), term()) -> answer().
check(_, {error, Reason} = Error) ->
    case is_helper_reason(Reason) of
        true -> Error;
        false -> {error, bad_reply}
    end;
check(ping, {pong, Version} = Answer) when is_binary(Version) ->
    Answer;
check({resolve, _, Family}, {ok, Ip} = Answer) ->
    case is_ip(Family, Ip) of
        true -> Answer;
        false -> {error, bad_reply}
    end;
%% A published distribution port: dial Ip:Port, skipping epmd.
check({resolve, _, Family}, {ok, Ip, Port} = Answer)
  when is_integer(Port), Port > 0, Port =< 65535 ->
    case is_ip(Family, Ip) of
        true -> Answer;
        false -> {error, bad_reply}
    end;
check(list, {ok, Containers} = Answer) when is_list(Containers) ->
    case lists:all(fun is_container/1, Containers) of
        true -> Answer;
        false -> {error, bad_reply}
    end;
check(nodes, {ok, Nodes} = Answer) when is_list(Nodes) ->
    case lists:all(fun is_binary/1, Nodes) of
        true -> Answer;
        false -> {error, bad_reply}
    end;
check(_, _) ->
    {error, bad_reply}.

%% Reasons

%% One sentence for people, for every reason code callers can see, including
%% the ones epmd_docker adds (ambiguous) and ordinary resolver errors.
-spec reason(term()) -> string().
reason(not_found) ->
    "no running container answers to that name";
reason({ambiguous, Candidates}) ->
    Names = [unicode:characters_to_list(C) || C <- Candidates],
    lists:flatten(["several running containers answer to that name: ",
                   lists:join(", ", Names)]);
reason(ambiguous) ->
    "several running containers answer to that name";
reason(no_address) ->
    "the container has no address of that family";
reason(not_published) ->
    "the container publishes no distribution port, and its own address is "
    "not reachable from here: run its node with a fixed distribution port "
    "(-kernel inet_dist_listen_min 9100 inet_dist_listen_max 9100), publish "
    "it (-p 127.0.0.1::9100), and if it publishes other ports too, label it "
    "(--label epmd_docker.dist_port=9100); see EPMD_DOCKER_MODE";
reason(docker_unavailable) ->
    "the Docker daemon cannot be reached";
reason(timeout) ->
    "no answer in time";
reason(bad_host) ->
    "the name is empty, too long or not a host name";
reason(bad_request) ->
    "the helper did not understand the request";
reason(helper_down) ->
    "the epmd-docker helper is not running; it is being restarted";
reason(helper_unavailable) ->
    "the epmd-docker helper program is missing or cannot be run";
reason(bad_reply) ->
    "the epmd-docker helper sent a reply of the wrong shape";
reason(Reason) when is_atom(Reason) ->
    %% Ordinary resolver and socket errors (nxdomain, econnrefused, ...).
    inet:format_error(Reason);
reason(Reason) ->
    lists:flatten(io_lib:format("~tp", [Reason])).

%% Internal

is_helper_reason(not_found) -> true;
is_helper_reason({ambiguous, Candidates}) when is_list(Candidates) ->
    lists:all(fun is_text/1, Candidates);
is_helper_reason(no_address) -> true;
is_helper_reason(not_published) -> true;
is_helper_reason(docker_unavailable) -> true;
is_helper_reason(timeout) -> true;
is_helper_reason(bad_host) -> true;
is_helper_reason(bad_request) -> true;
is_helper_reason(_) -> false.

is_container({Id, Name, Hostname, Ip}) ->
    is_text(Id) andalso is_text(Name) andalso is_text(Hostname) andalso
        (Ip =:= none orelse is_ip(inet, Ip) orelse is_ip(inet6, Ip));
is_container(_) ->
    false.

%% Text that goes into log lines and node names: UTF-8, and printable, so
%% that a helper cannot write control characters or forged lines into the
%% log.
is_text(Bin) when is_binary(Bin) ->
    case unicode:characters_to_list(Bin) of
        Chars when is_list(Chars) ->
            io_lib:printable_unicode_list(Chars) andalso
                lists:all(fun(C) -> C >= $\s end, Chars);
        _ -> false
    end;
is_text(_) ->
    false.

is_ip(inet, {_, _, _, _} = Ip) ->
    lists:all(fun(N) -> is_integer(N) andalso N >= 0 andalso N =< 255 end,
              tuple_to_list(Ip));
is_ip(inet6, {_, _, _, _, _, _, _, _} = Ip) ->
    lists:all(fun(N) -> is_integer(N) andalso N >= 0 andalso N =< 65535 end,
              tuple_to_list(Ip));
is_ip(_, _) ->
    false.

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

round_trip_test() ->
    Frame = encode(7, {resolve, <<"web">>, inet}),
    %% The helper echoes the tag; here we only check our own decoder.
    ?assertEqual({ok, 7, {resolve, <<"web">>, inet}}, decode(Frame)).

decode_garbage_test_() ->
    [?_assertEqual({error, garbage}, decode(<<>>)),
     ?_assertEqual({error, garbage}, decode(<<"not a term">>)),
     ?_assertEqual({error, garbage}, decode(<<131, 104, 2, 97>>)),
     ?_assertEqual({error, garbage}, decode(term_to_binary(pong))),
     ?_assertEqual({error, garbage}, decode(term_to_binary({-1, ok}))),
     ?_assertEqual({error, garbage}, decode(term_to_binary({1 bsl 32, ok}))),
     ?_assertEqual({error, garbage}, decode(term_to_binary({<<"t">>, ok})))].

%% An atom that exists nowhere must not be created by a reply.
decode_unknown_atom_test() ->
    %% ATOM_UTF8_EXT "zz_epmd_docker_never_an_atom" inside {1, Atom}.
    Name = <<"zz_epmd_docker_never_an_atom">>,
    Frame = <<131, 104, 2, 97, 1, 118, (byte_size(Name)):16, Name/binary>>,
    ?assertEqual({error, garbage}, decode(Frame)).

%% Every atom in the grammar of doc.go must decode with [safe].
grammar_atoms_test() ->
    Atoms = [ping, pong, resolve, list, inet, inet6, ok, error, none,
             not_found, ambiguous, no_address, not_published,
             docker_unavailable, timeout,
             bad_host, bad_request],
    [?assertEqual({ok, 1, A},
                  decode(<<131, 104, 2, 97, 1, 119, (byte_size(B)), B/binary>>))
     || A <- Atoms, B <- [atom_to_binary(A, utf8)]].

check_test_() ->
    R = {resolve, <<"web">>, inet},
    R6 = {resolve, <<"web">>, inet6},
    C = {<<"3f2a9c1b7d4e">>, <<"web">>, <<"3f2a9c1b7d4e">>, {172, 17, 0, 2}},
    [?_assertEqual({pong, <<"1.0">>}, check(ping, {pong, <<"1.0">>})),
     ?_assertEqual({error, bad_reply}, check(ping, {pong, "1.0"})),
     ?_assertEqual({ok, {172, 17, 0, 2}}, check(R, {ok, {172, 17, 0, 2}})),
     ?_assertEqual({error, bad_reply}, check(R, {ok, {172, 17, 0, 256}})),
     ?_assertEqual({error, bad_reply}, check(R, {ok, {0, 0, 0, 0, 0, 0, 0, 1}})),
     ?_assertEqual({ok, {0, 0, 0, 0, 0, 0, 0, 1}},
                   check(R6, {ok, {0, 0, 0, 0, 0, 0, 0, 1}})),
     ?_assertEqual({error, not_found}, check(R, {error, not_found})),
     ?_assertEqual({error, {ambiguous, [<<"a (1)">>, <<"b (2)">>]}},
                   check(R, {error, {ambiguous, [<<"a (1)">>, <<"b (2)">>]}})),
     ?_assertEqual({error, bad_reply}, check(R, {error, {ambiguous, ["a"]}})),
     ?_assertEqual({error, bad_reply},
                   check(R, {error, {ambiguous, [<<255, 254, 0>>]}})),
     ?_assertEqual({error, bad_reply},
                   check(R, {error, {ambiguous, [<<"a\n=ERROR REPORT">>]}})),
     ?_assertEqual({error, bad_reply},
                   check(list, {ok, [setelement(3, C, <<"web", 0>>)]})),
     ?_assertEqual({error, bad_reply}, check(R, {error, ok})),
     ?_assertEqual({ok, [C]}, check(list, {ok, [C]})),
     ?_assertEqual({ok, [setelement(4, C, none)]},
                   check(list, {ok, [setelement(4, C, none)]})),
     ?_assertEqual({error, bad_reply}, check(list, {ok, [{<<"x">>}]})),
     ?_assertEqual({error, bad_reply}, check(list, {ok, {172, 17, 0, 2}})),
     ?_assertEqual({error, bad_reply}, check(R, {pong, <<"1.0">>}))].

reason_test_() ->
    Reasons = [not_found, {ambiguous, [<<"a (1)">>]}, ambiguous, no_address,
               docker_unavailable, timeout, bad_host, bad_request, helper_down,
               helper_unavailable, bad_reply, nxdomain, {weird, 1}],
    [?_assert(io_lib:char_list(reason(R))) || R <- Reasons].

published_test_() ->
    R = {resolve, <<"web">>, inet},
    R6 = {resolve, <<"web">>, inet6},
    [?_assertEqual({ok, {127, 0, 0, 1}, 9100},
                   check(R, {ok, {127, 0, 0, 1}, 9100})),
     ?_assertEqual({ok, {0, 0, 0, 0, 0, 0, 0, 1}, 9100},
                   check(R6, {ok, {0, 0, 0, 0, 0, 0, 0, 1}, 9100})),
     ?_assertEqual({error, bad_reply}, check(R, {ok, {127, 0, 0, 1}, 0})),
     ?_assertEqual({error, bad_reply}, check(R, {ok, {127, 0, 0, 1}, 65536})),
     ?_assertEqual({error, bad_reply}, check(R, {ok, {127, 0, 0, 1}, <<"1">>})),
     ?_assertEqual({error, bad_reply},
                   check(R, {ok, {0, 0, 0, 0, 0, 0, 0, 1}, 9100})),
     ?_assertEqual({error, bad_reply}, check(list, {ok, {127, 0, 0, 1}, 9100})),
     ?_assertEqual({error, not_published}, check(R, {error, not_published})),
     ?_assert(io_lib:char_list(reason(not_published)))].

-endif.
