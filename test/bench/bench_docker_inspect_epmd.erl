%% The baseline epmd_docker replaces, as first sketched: an -epmd_module
%% whose address_please/3 forks `docker inspect` for every lookup, through
%% os:cmd/1 (a shell, then the docker CLI, which asks the daemon). It works
%% for containers whose hostname is their short ID, since docker inspect
%% accepts an ID prefix. Everything else is as plain as it gets: no epmd to
%% register with on the host, the node's port asked of the epmd inside the
%% container. For `make bench` only.
-module(bench_docker_inspect_epmd).

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

-spec listen_port_please(atom() | string(), term()) -> {ok, 0}.
listen_port_please(_Name, _Host) ->
    {ok, 0}.

-spec address_please(string(), string() | inet:ip_address(), inet | inet6) ->
          {ok, inet:ip_address()} | {error, term()}.
address_please(_Name, Host, inet) when is_list(Host) ->
    case lists:all(fun safe/1, Host) of
        true ->
            Out = os:cmd("docker inspect --format "
                         "'{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "
                         ++ Host ++ " 2>/dev/null"),
            case string:lexemes(Out, " \n") of
                [Ip | _] -> inet:parse_ipv4_address(Ip);
                [] -> {error, nxdomain}
            end;
        false ->
            {error, einval}
    end;
address_please(_Name, Host, Family) ->
    inet:getaddr(Host, Family).

-spec port_please(atom() | string(), term()) -> term().
port_please(Name, Host) ->
    port_please(Name, Host, infinity).

-spec port_please(atom() | string(), term(), timeout()) -> term().
port_please(Name, Ip, Timeout) when is_tuple(Ip) ->
    erl_epmd:port_please(Name, Ip, Timeout);
port_please(Name, Host, Timeout) ->
    case address_please("", Host, inet) of
        {ok, Ip} -> erl_epmd:port_please(Name, Ip, Timeout);
        _ -> noport
    end.

-spec names(term()) -> term().
names(Ip) when is_tuple(Ip) ->
    erl_epmd:names(Ip);
names(Host) ->
    case address_please("", Host, inet) of
        {ok, Ip} -> erl_epmd:names(Ip);
        _ -> {error, address}
    end.

%% Nothing that a shell would read as more than a word.
safe(C) ->
    (C >= $a andalso C =< $z) orelse (C >= $A andalso C =< $Z)
        orelse (C >= $0 andalso C =< $9) orelse C =:= $- orelse C =:= $_ orelse C =:= $..
