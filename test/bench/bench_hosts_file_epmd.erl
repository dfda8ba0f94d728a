%% The static-file baseline: erl_epmd itself, whose address_please/3 is
%% inet:getaddr/2 and so reads the hosts of an ERL_INETRC file, except that
%% it registers with no epmd on the host (as epmd_docker does not), so that
%% `make bench` neither needs nor starts one. Connection setup is exactly a
%% stock node's. For `make bench` only.
-module(bench_hosts_file_epmd).

-export([start_link/0]).
-export([register_node/2]).
-export([register_node/3]).
-export([listen_port_please/2]).
-export([address_please/3]).
-export([port_please/2]).
-export([port_please/3]).
-export([names/1]).

-spec start_link() -> ignore.
start_link() ->
    ignore.

-spec register_node(atom() | string(), non_neg_integer()) -> {ok, -1}.
register_node(Name, Port) ->
    register_node(Name, Port, inet).

-spec register_node(atom() | string(), non_neg_integer(), atom()) -> {ok, -1}.
register_node(_Name, _Port, _Driver) ->
    {ok, -1}.

-spec listen_port_please(atom() | string(), term()) -> term().
listen_port_please(Name, Host) ->
    erl_epmd:listen_port_please(Name, Host).

-spec address_please(string(), term(), inet | inet6) -> term().
address_please(Name, Host, Family) ->
    erl_epmd:address_please(Name, Host, Family).

-spec port_please(atom() | string(), term()) -> term().
port_please(Name, Host) ->
    erl_epmd:port_please(Name, Host).

-spec port_please(atom() | string(), term(), timeout()) -> term().
port_please(Name, Host, Timeout) ->
    erl_epmd:port_please(Name, Host, Timeout).

-spec names(term()) -> term().
names(Host) ->
    erl_epmd:names(Host).
