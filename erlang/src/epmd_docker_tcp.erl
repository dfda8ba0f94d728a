%% A gen_tcp `tcp_module` that resolves container host names: inet_tcp in
%% every respect but getaddrs/2.
%%
%% Before OTP 24.2, inet_tls_dist asks the epmd module for a node's address
%% and port but then dials ssl:connect(Host, Port, ...) with the host NAME,
%% so gen_tcp resolves HOST again through DNS and fails for a container
%% (erlang/otp#5334, fixed in 24.2 by dialling the address with HOST as
%% server_name_indication). epmd_docker_tls_dist puts {tcp_module, ?MODULE}
%% into inet_dist_connect_options on those releases; ssl passes it through
%% to gen_tcp:connect/4, which then asks getaddrs/2 here. TLS still checks
%% the certificate against HOST, which is what the node is called.
%%
%% gen_tcp:connect/4 calls getaddrs/2, getserv/1 and connect/4 of a
%% tcp_module, nothing else: the socket that connect/4 returns belongs to
%% inet_tcp, which serves every later call on it.
-module(epmd_docker_tcp).

%% The tcp_module callbacks gen_tcp:connect/4 uses
-export([getaddrs/2]).
-export([getserv/1]).
-export([connect/4]).

%% The tcp_module callbacks gen_tcp:connect/4 uses

%% A container's address, else an ordinary host's, as
%% epmd_docker:address_please/3 finds it; a literal address as it is.
-spec getaddrs(Address, Timer) -> {ok, [inet:ip4_address()]} |
                                  {error, term()} when
      Address :: inet:ip_address() | inet:hostname(),
      Timer :: term().
getaddrs(Address, Timer) when is_tuple(Address) ->
    inet_tcp:getaddrs(Address, Timer);
getaddrs(Address, _Timer) ->
    case epmd_docker:address_please("", Address, inet) of
        {error, _} = Error -> Error;
        %% {ok, Ip} or {ok, Ip, Port, Version}
        Found -> {ok, [element(2, Found)]}
    end.

-spec getserv(Port) -> {ok, inet:port_number()} | {error, term()} when
      Port :: inet:port_number() | atom().
getserv(Port) ->
    inet_tcp:getserv(Port).

-spec connect(Address, Port, Options, Timeout) -> {ok, inet:socket()} |
                                                  {error, term()} when
      Address :: inet:ip_address() | inet:hostname(),
      Port :: inet:port_number(),
      Options :: [gen_tcp:connect_option()],
      Timeout :: timeout().
connect(Address, Port, Options, Timeout) ->
    inet_tcp:connect(Address, Port, Options, Timeout).

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

getaddrs_test_() ->
    [?_assertEqual({ok, [{127, 0, 0, 1}]}, getaddrs({127, 0, 0, 1}, undefined)),
     ?_assertEqual({ok, [{127, 0, 0, 1}]}, getaddrs("127.0.0.1", undefined))].

-endif.
