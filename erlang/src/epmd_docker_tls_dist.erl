%% The -proto_dist module for `-proto_dist epmd_docker_tls`: inet_tls_dist,
%% distribution over TLS, in every respect but select/1.
%%
%%     erl -proto_dist epmd_docker_tls -ssl_dist_optfile FILE \
%%         -start_epmd false -epmd_module epmd_docker \
%%         -sname shell$$ -setcookie $COOKIE -remsh node@CONTAINER_HOSTNAME
%%
%% for container nodes that run `-proto_dist inet_tls`. Before OTP 24.2
%% inet_tls_dist:select/1 answers from inet_tcp:getaddr/1 and refuses every
%% container node; this select/1 asks epmd_docker:address_please/3 instead,
%% exactly as epmd_docker_dist does for plain TCP. From OTP 24.2 on,
%% `-proto_dist inet_tls -epmd_module epmd_docker` is enough. Either way the
%% TLS client checks the certificate against the host part of the node
%% name (server_name_indication), not against the address Docker gave.
%%
%% Before 24.2 inet_tls_dist also dials the host name, not the address it
%% was given; see epmd_docker_tcp for how those connections reach the
%% container all the same.
%%
%% childspecs/0 must be passed on: it starts ssl_dist_sup, without which no
%% TLS connection is set up at all. The exports are inet_tls_dist's own in
%% OTP 23 to 29: listen/2 but no listen/1, no address/1, and no setopts/2 or
%% getopts/2, which net_kernel then does without.
-module(epmd_docker_tls_dist).

%% Selecting this carrier
-export([select/1]).

%% Delegated to inet_tls_dist
-export([childspecs/0]).
-export([setup/5]).

-define(CARRIER, inet_tls_dist).
-include("epmd_docker_carrier.hrl").

%% Selecting this carrier

%% Runs inside net_kernel: never raises, and answers within the bound
%% address_please/3 keeps.
-spec select(Node) -> boolean() when
      Node :: node().
select(Node) ->
    epmd_docker_dist:select(Node, inet).

%% Delegated to inet_tls_dist

%% Started by erl_distribution before net_kernel.
-spec childspecs() -> {ok, [supervisor:child_spec()]}.
childspecs() ->
    ?CARRIER:childspecs().

%% Runs inside net_kernel, as select/1 does.
-spec setup(Node, Type, MyNode, LongOrShortNames, SetupTime) ->
          ConnectionPid :: pid() when
      Node :: node(),
      Type :: atom(),
      MyNode :: node(),
      LongOrShortNames :: longnames | shortnames,
      SetupTime :: term().
setup(Node, Type, MyNode, LongOrShortNames, SetupTime) ->
    dial_through_epmd_docker(release()),
    ?CARRIER:setup(Node, Type, MyNode, LongOrShortNames, SetupTime).

%% Internal

%% Before OTP 24.2 inet_tls_dist dials the host name rather than the address
%% the epmd module found, so gen_tcp would resolve a container's host name
%% through DNS: there, connections go through epmd_docker_tcp, which asks
%% epmd_docker. inet_tls_dist reads inet_dist_connect_options at each
%% setup, so setting it before the first one is enough; an option the user
%% set is kept, and one tcp_module of theirs wins. On 24 the minor release
%% is not known here; epmd_docker_tcp passes addresses through unchanged,
%% so it is harmless where it is not needed.
dial_through_epmd_docker(Release) when Release =< 24 ->
    Options = case application:get_env(kernel, inet_dist_connect_options) of
                  {ok, List} when is_list(List) -> List;
                  _ -> []
              end,
    case lists:keymember(tcp_module, 1, Options) of
        true ->
            ok;
        false ->
            application:set_env(kernel, inet_dist_connect_options,
                                [{tcp_module, epmd_docker_tcp} | Options])
    end;
dial_through_epmd_docker(_Release) ->
    ok.

release() ->
    try
        list_to_integer(erlang:system_info(otp_release))
    catch
        error:badarg -> 0
    end.

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

select_test_() ->
    [?_assert(select('app@127.0.0.1')),
     ?_assertNot(select('app')),
     ?_assertNot(select(42))].

%% Every callback inet_tls_dist has is passed on and nothing is added but
%% select/1, so net_kernel sees the carrier it expects.
exports_test() ->
    Own = [{select, 1}],
    Ours = [F || F <- ?MODULE:module_info(exports) -- Own, not is_test(F)],
    Carrier = ?CARRIER:module_info(exports),
    ?assertEqual([], Ours -- Carrier).

%% What EUnit and module_info add to the exports.
is_test({module_info, _}) -> true;
is_test({test, 0}) -> true;
is_test({Name, 0}) ->
    lists:suffix("_test", atom_to_list(Name)) orelse
        lists:suffix("_test_", atom_to_list(Name));
is_test(_) -> false.

childspecs_test() ->
    ?assertMatch({ok, [_ | _]}, childspecs()).

dial_through_epmd_docker_test() ->
    Old = application:get_env(kernel, inet_dist_connect_options),
    try
        application:set_env(kernel, inet_dist_connect_options,
                            [{nodelay, true}]),
        ok = dial_through_epmd_docker(25),
        ?assertEqual({ok, [{nodelay, true}]},
                     application:get_env(kernel, inet_dist_connect_options)),
        ok = dial_through_epmd_docker(23),
        ?assertEqual({ok, [{tcp_module, epmd_docker_tcp}, {nodelay, true}]},
                     application:get_env(kernel, inet_dist_connect_options)),
        application:set_env(kernel, inet_dist_connect_options,
                            [{tcp_module, inet_tcp}]),
        ok = dial_through_epmd_docker(23),
        ?assertEqual({ok, [{tcp_module, inet_tcp}]},
                     application:get_env(kernel, inet_dist_connect_options))
    after
        case Old of
            {ok, Value} ->
                application:set_env(kernel, inet_dist_connect_options, Value);
            undefined ->
                application:unset_env(kernel, inet_dist_connect_options)
        end
    end.

-endif.
