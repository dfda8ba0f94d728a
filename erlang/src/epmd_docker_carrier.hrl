%% The callbacks every epmd_docker -proto_dist shim passes on unchanged to
%% its carrier, ?CARRIER (inet_tcp_dist, inet6_tcp_dist or inet_tls_dist),
%% which the including module defines first. They are the ones all three
%% carriers have in OTP 23 to 29; a shim exports the rest itself.

-export([listen/2]).
-export([address/0]).
-export([accept/1]).
-export([accept_connection/5]).
-export([close/1]).
-export([is_node_name/1]).

%% Raises undef where the carrier has no listen/2, and net_kernel then calls
%% listen/1, as it would with the carrier itself.
-spec listen(Name, Host) -> {ok, {Listen, Address, Creation}} |
                            {error, term()} when
      Name :: atom(),
      Host :: string(),
      Listen :: term(),
      Address :: term(),
      Creation :: integer().
listen(Name, Host) ->
    ?CARRIER:listen(Name, Host).

-spec address() -> Address :: term().
address() ->
    ?CARRIER:address().

-spec accept(Listen :: term()) -> AcceptPid :: pid().
accept(Listen) ->
    ?CARRIER:accept(Listen).

-spec accept_connection(AcceptPid, Socket, MyNode, Allowed, SetupTime) ->
          ConnectionPid :: pid() when
      AcceptPid :: pid(),
      Socket :: term(),
      MyNode :: node(),
      Allowed :: term(),
      SetupTime :: term().
accept_connection(AcceptPid, Socket, MyNode, Allowed, SetupTime) ->
    ?CARRIER:accept_connection(AcceptPid, Socket, MyNode, Allowed, SetupTime).

-spec close(Listen :: term()) -> term().
close(Listen) ->
    ?CARRIER:close(Listen).

-spec is_node_name(Node :: term()) -> boolean().
is_node_name(Node) ->
    ?CARRIER:is_node_name(Node).
