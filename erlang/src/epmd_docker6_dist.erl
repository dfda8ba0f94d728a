%% The -proto_dist module for `-proto_dist epmd_docker6`: inet6_tcp_dist,
%% distribution over IPv6, in every respect but select/1.
%%
%%     erl -proto_dist epmd_docker6 -start_epmd false -epmd_module epmd_docker \
%%         -sname shell$$ -setcookie $COOKIE -remsh node@CONTAINER_HOSTNAME
%%
%% for containers on an IPv6-enabled network whose nodes run
%% `-proto_dist inet6_tcp`. Before OTP 24.2 inet6_tcp_dist:select/1 answers
%% from inet6_tcp:getaddr/1 and refuses every container node; this select/1
%% asks epmd_docker:address_please/3 for an IPv6 address instead, exactly as
%% epmd_docker_dist does for IPv4. From OTP 24.2 on, `-proto_dist inet6_tcp
%% -epmd_module epmd_docker` is enough.
%%
%% The exports are inet6_tcp_dist's own in OTP 23 to 29: it has listen/2 but
%% no listen/1 and no address/1, which net_kernel then does without. It has
%% no childspecs/0; this one starts nothing.
-module(epmd_docker6_dist).

%% Selecting this carrier
-export([select/1]).

%% Delegated to inet6_tcp_dist
-export([setup/5]).
-export([setopts/2]).
-export([getopts/2]).
-export([childspecs/0]).

-define(CARRIER, inet6_tcp_dist).
-include("epmd_docker_carrier.hrl").

%% Selecting this carrier

%% Runs inside net_kernel: never raises, and answers within the bound
%% address_please/3 keeps.
-spec select(Node) -> boolean() when
      Node :: node().
select(Node) ->
    epmd_docker_dist:select(Node, inet6).

%% Delegated to inet6_tcp_dist

-spec setup(Node, Type, MyNode, LongOrShortNames, SetupTime) ->
          ConnectionPid :: pid() when
      Node :: node(),
      Type :: atom(),
      MyNode :: node(),
      LongOrShortNames :: longnames | shortnames,
      SetupTime :: term().
setup(Node, Type, MyNode, LongOrShortNames, SetupTime) ->
    ?CARRIER:setup(Node, Type, MyNode, LongOrShortNames, SetupTime).

-spec setopts(Listen :: term(), Options :: [inet:socket_setopt()]) ->
          ok | {error, term()}.
setopts(Listen, Options) ->
    ?CARRIER:setopts(Listen, Options).

-spec getopts(Listen :: term(), Options :: [inet:socket_getopt()]) ->
          {ok, [inet:socket_optval()]} | {error, term()}.
getopts(Listen, Options) ->
    ?CARRIER:getopts(Listen, Options).

%% inet6_tcp_dist starts no processes of its own before net_kernel.
-spec childspecs() -> {ok, [supervisor:child_spec()]}.
childspecs() ->
    {ok, []}.

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

select_test_() ->
    [?_assert(select('app@::1')),
     ?_assertNot(select('app')),
     ?_assertNot(select(42))].

%% Every callback inet6_tcp_dist has is passed on, and nothing else but
%% select/1 and childspecs/0, so net_kernel sees the carrier it expects.
exports_test() ->
    Own = [{select, 1}, {childspecs, 0}],
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

-endif.
