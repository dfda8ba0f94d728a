%% The -proto_dist module for `-proto_dist epmd_docker`: inet_tcp_dist in
%% every respect but select/1.
%%
%% net_kernel asks each -proto_dist module's select/1 whether it can reach a
%% node before it dials. Before OTP 24.2 inet_tcp_dist answers from
%% inet:getaddr/2, which knows nothing of containers, so it refuses every
%% container node. This select/1 answers from epmd_docker:address_please/3
%% instead: true for a container or an ordinary host, false otherwise. From
%% OTP 24.2 on inet_tcp_dist itself asks the epmd module, so `-epmd_module
%% epmd_docker` alone is enough there; this module keeps the command lines of
%% the original write-up working on every release, and is the pattern for
%% IPv6 and TLS carriers.
%%
%% Every other callback net_kernel calls in OTP 23 to 29 is inet_tcp_dist's:
%% listen/1,2, address/0,1, accept/1, accept_connection/5, setup/5, close/1,
%% is_node_name/1, setopts/2 and getopts/2. childspecs/0, which
%% inet_tcp_dist does not have, starts nothing.
-module(epmd_docker_dist).

%% Selecting this carrier
-export([select/1]).

%% Shared with the IPv6 and TLS shims
-export([select/2]).

%% Delegated to inet_tcp_dist
-export([listen/1]).
-export([address/1]).
-export([setup/5]).
-export([setopts/2]).
-export([getopts/2]).
-export([childspecs/0]).

-define(CARRIER, inet_tcp_dist).
-include("epmd_docker_carrier.hrl").

%% Selecting this carrier

%% Runs inside net_kernel: never raises, and answers within the bound
%% address_please/3 keeps.
-spec select(Node) -> boolean() when
      Node :: node().
select(Node) ->
    select(Node, inet).

%% select/1 for a carrier of address family Family: epmd_docker6_dist
%% (inet6) and epmd_docker_tls_dist (inet) answer with it.
-spec select(Node, Family) -> boolean() when
      Node :: node(),
      Family :: inet | inet6.
select(Node, Family) ->
    try split_node(Node) of
        {ok, Name, Host} ->
            %% {ok, Ip} or {ok, Ip, Port, Version}: either way reachable.
            Found = epmd_docker:address_please(Name, Host, Family),
            element(1, Found) =:= ok;
        error ->
            false
    catch
        _:_ -> false
    end.

%% Delegated to inet_tcp_dist

-spec listen(Name) -> {ok, {Listen, Address, Creation}} | {error, term()} when
      Name :: atom(),
      Listen :: term(),
      Address :: term(),
      Creation :: integer().
listen(Name) ->
    ?CARRIER:listen(Name).

%% Recent net_kernel calls address/1 first and address/0 when that is
%% undefined; inet_tcp_dist has address/1 in no release read so far, so this
%% delegates to whichever the running release has.
-spec address(Host :: string()) -> Address :: term().
address(Host) ->
    address(?CARRIER, Host).

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

%% inet_tcp_dist starts no processes of its own before net_kernel.
-spec childspecs() -> {ok, [supervisor:child_spec()]}.
childspecs() ->
    {ok, []}.

%% Internal

%% The carrier is a variable so that xref, run on a release without
%% address/1, does not flag the call that is only made where it exists.
address(Carrier, Host) ->
    _ = code:ensure_loaded(Carrier),
    case erlang:function_exported(Carrier, address, 1) of
        true -> Carrier:address(Host);
        false -> Carrier:address()
    end.

split_node(Node) when is_atom(Node) ->
    case string:split(atom_to_list(Node), "@") of
        [Name, Host] when Name =/= [], Host =/= [] ->
            case lists:member($@, Host) of
                true -> error;
                false -> {ok, Name, Host}
            end;
        _ ->
            error
    end;
split_node(_) ->
    error.

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

split_node_test_() ->
    [?_assertEqual({ok, "app", "web"}, split_node('app@web')),
     ?_assertEqual(error, split_node('app')),
     ?_assertEqual(error, split_node('@web')),
     ?_assertEqual(error, split_node('app@')),
     ?_assertEqual(error, split_node('a@b@c')),
     ?_assertEqual(error, split_node("app@web"))].

select_test_() ->
    [?_assert(select('app@127.0.0.1')),
     ?_assertNot(select('app')),
     ?_assertNot(select(42))].

childspecs_test() ->
    ?assertEqual({ok, []}, childspecs()).

-endif.
