%% The -epmd_module that resolves container host names through Docker.
%%
%%     erl -start_epmd false -epmd_module epmd_docker -sname shell$$ \
%%         -setcookie $COOKIE -remsh node@CONTAINER_HOSTNAME
%%
%% address_please/3 asks the epmd-docker helper (through the port owner,
%% epmd_docker_helper) which running container answers to the host part of a
%% node name. A host that is no container falls back to ordinary resolution,
%% so the same node still reaches ordinary hosts. The node's port is then
%% asked of the epmd inside the container, at the address found: erl_epmd's
%% port_please/3 and names/1 are plain TCP calls given an IP address and need
%% no local erl_epmd server, and this node registers with no epmd, so it
%% runs with -start_epmd false.
%%
%% Callbacks here run inside net_kernel and the connection setup processes,
%% where an exception takes the node down or blocks every other connection:
%% none of them raises, and each answers within a bounded time.
-module(epmd_docker).

%% -epmd_module callbacks (erl_epmd, ERTS User's Guide "alt_disco")
-export([start_link/0]).
-export([register_node/2]).
-export([register_node/3]).
-export([listen_port_please/2]).
-export([address_please/3]).
-export([port_please/2]).
-export([port_please/3]).
-export([names/1]).

%% Containers and the nodes in them
-export([resolve/1]).
-export([resolve/2]).
-export([containers/0]).
-export([nodes/0]).
-export([connect_all/0]).

%% Errors
-export([format_error/1]).

%% nodes/0 here lists container nodes; erlang:nodes/0 is not used.
-compile({no_auto_import, [nodes/0]}).

-include_lib("kernel/include/logger.hrl").

%% The ordinary lookup after a slow "no such container" still gets this
%% long: a hosts file or a cached DNS answer takes microseconds.
-define(MIN_ORDINARY, 100).

%% The most node names nodes/0 takes for one host, as the helper promises
%% per container (go/internal/wire/doc.go).
-define(MAX_NODES_PER_HOST, 64).

%% -epmd_module callbacks

%% Started by net_sup (erl_distribution) as a worker. The port owner may
%% already run, started on demand by an earlier call of the public API; it
%% serves this node just as well, so net_sup is told there is nothing to
%% supervise rather than given an error that would stop distribution.
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    case epmd_docker_helper:start_link() of
        {error, {already_started, _}} -> ignore;
        Result -> Result
    end.

-spec register_node(Name, Port) -> Result when
      Name :: atom() | string(),
      Port :: non_neg_integer(),
      Creation :: non_neg_integer() | -1,
      Result :: {ok, Creation} | {error, already_registered} | term().
register_node(Name, Port) ->
    register_node(Name, Port, inet).

%% There is no epmd on the host side to register with, so the creation is a
%% random 32-bit one, as epmd would hand out (see creation/0), and
%% `-start_epmd false` just works.
-spec register_node(Name, Port, Driver) -> Result when
      Name :: atom() | string(),
      Port :: non_neg_integer(),
      Driver :: inet_tcp | inet6_tcp | inet | inet6,
      Creation :: non_neg_integer() | -1,
      Result :: {ok, Creation} | {error, already_registered} | term().
register_node(_Name, _Port, _Driver) ->
    {ok, creation()}.

%% The port this node listens on: -erl_epmd_port as erl_epmd reads it (a
%% plain init:get_argument/1, no server), else ERL_DIST_PORT, else 0 for
%% "any", which inet_tcp_dist narrows with inet_dist_listen_min/max.
-spec listen_port_please(Name, Host) -> {ok, Port} when
      Name :: atom() | string(),
      Host :: atom() | string() | inet:ip_address(),
      Port :: non_neg_integer().
listen_port_please(Name, Host) ->
    %% try, not catch: `catch Expr` is deprecated from OTP 29, and
    %% warnings are errors here.
    try erl_epmd:listen_port_please(Name, Host) of
        {ok, Port} when is_integer(Port), Port > 0 -> {ok, Port};
        _ -> {ok, dist_port()}
    catch
        _:_ -> {ok, dist_port()}
    end.

%% A container's address, else an ordinary host's, else {error, Reason} and
%% one log line that names the host. Called twice per connection (select,
%% then setup): a warm answer comes from the port owner's table, read in
%% this process. Only a name that no container answers to (or any name,
%% when there is no helper or no Docker) goes to ordinary resolution; when
%% the helper fails, the lookup fails, rather than answer for a container
%% from DNS.
-spec address_please(Name, Host, AddressFamily) -> Success | {error, term()} when
      Name :: string(),
      Host :: string() | inet:ip_address(),
      AddressFamily :: inet | inet6,
      Port :: non_neg_integer(),
      Version :: non_neg_integer(),
      Success :: {ok, inet:ip_address()} |
                 {ok, inet:ip_address(), Port, Version}.
address_please(_Name, Host, Family) ->
    try
        lookup(Host, Family)
    catch
        Class:Reason:Stack ->
            ?LOG_ERROR("epmd_docker: address_please(~tp) failed: ~tp:~tp ~tp",
                       [Host, Class, Reason, Stack]),
            {error, internal_error}
    end.

-spec port_please(Name, Host) -> {port, Port, Version} | noport | closed |
                                 {error, term()} when
      Name :: atom() | string(),
      Host :: atom() | string() | inet:ip_address(),
      Port :: non_neg_integer(),
      Version :: non_neg_integer().
port_please(Name, Host) ->
    port_please(Name, Host, epmd_docker_helper:timeout()).

%% Asks the epmd at Host's address, which for a container is the epmd inside
%% it. Note that erl_epmd answers with -erl_epmd_port instead of asking,
%% when that flag is set on this node.
-spec port_please(Name, Host, Timeout) -> {port, Port, Version} | noport |
                                          closed | {error, term()} when
      Name :: atom() | string(),
      Host :: atom() | string() | inet:ip_address(),
      Timeout :: non_neg_integer() | infinity,
      Port :: non_neg_integer(),
      Version :: non_neg_integer().
port_please(Name, Host, Timeout) ->
    try address(Host) of
        {ok, Ip} -> epmd_port_please(Name, Ip, Timeout);
        {ok, _Ip, Port, Version} -> {port, Port, Version};
        {error, _} -> noport
    catch
        _:_ -> noport
    end.

%% The names registered with the epmd at Host's address (net_adm:names/1).
-spec names(Host) -> {ok, [{Name, Port}]} | {error, Reason} when
      Host :: atom() | string() | inet:ip_address(),
      Name :: string(),
      Port :: non_neg_integer(),
      Reason :: address | file:posix().
names(Host) ->
    try address(Host) of
        {ok, Ip} -> epmd_names(Ip, epmd_docker_helper:timeout());
        %% A published distribution port: the epmd is not reachable.
        {ok, _Ip, _Port, _Version} -> {error, address};
        {error, _} -> {error, address}
    catch
        _:_ -> {error, address}
    end.

%% Containers and the nodes in them

%% What the helper says about Host, without the fallback to ordinary
%% resolution: whether, and where, a running container answers to it.
-spec resolve(Host) -> {ok, inet:ip_address()} |
                       {ok, inet:ip_address(), inet:port_number()} |
                       {error, epmd_docker_wire:reason()} when
      Host :: atom() | string() | binary().
resolve(Host) ->
    resolve(Host, inet).

-spec resolve(Host, Family) -> {ok, inet:ip_address()} |
                               {ok, inet:ip_address(), inet:port_number()} |
                               {error, epmd_docker_wire:reason()} when
      Host :: atom() | string() | binary(),
      Family :: inet | inet6.
resolve(Host, Family) ->
    case host_binary(Host) of
        {ok, Bin} -> epmd_docker_helper:request({resolve, Bin, Family});
        error -> {error, bad_host}
    end.

%% The running containers: {Id, Name, Hostname, Ip | none}.
-spec containers() -> {ok, [epmd_docker_wire:container()]} |
                      {error, epmd_docker_wire:reason()}.
containers() ->
    epmd_docker_helper:request(list).

%% The Erlang nodes in running containers, as the names to dial: the helper
%% finds them the way each container is reached (its epmd, or the node
%% behind a published distribution port), each under the name the node
%% gives itself. Every name becomes an atom, which is never freed, and a
%% process in a container can register any name with its epmd: so only
%% valid node names are taken, at most ?MAX_NODES_PER_HOST per host part,
%% and one line is logged when some are left out. On error, logs one line
%% and returns [].
-spec nodes() -> [node()].
nodes() ->
    case epmd_docker_helper:request(nodes) of
        {ok, Names} ->
            {Nodes, Dropped} = node_atoms(Names),
            Dropped > 0 andalso
                ?LOG_WARNING("epmd_docker: left out ~b node names that are not "
                             "valid, or more than ~b for one host",
                             [Dropped, ?MAX_NODES_PER_HOST]),
            Nodes;
        {error, Reason} ->
            ?LOG_WARNING("epmd_docker: cannot list the nodes in containers: ~ts",
                         [format_error(Reason)]),
            []
    end.

%% Connects to every node nodes/0 finds, concurrently. The connections are
%% hidden when this node is (-hidden, or -remsh without a name), which an
%% admin node should be.
-spec connect_all() -> [{node(), boolean()}].
connect_all() ->
    Nodes = nodes(),
    Connected = pmap(fun(Node) -> net_kernel:connect_node(Node) =:= true end,
                     Nodes, epmd_docker_helper:setup_time() + 1000, false),
    lists:zip(Nodes, Connected).

%% Errors

%% A sentence for people, for any reason code returned here.
-spec format_error(term()) -> string().
format_error(Reason) ->
    epmd_docker_wire:reason(Reason).

%% Internal

lookup(Host, Family) when is_tuple(Host) ->
    inet:getaddr(Host, Family);
lookup(Host, Family) ->
    case host_string(Host) of
        {ok, Name} ->
            case literal_address(Name) of
                {ok, _} ->
                    %% A literal address: nothing to ask Docker or DNS.
                    inet:getaddr(Name, Family);
                {error, _} ->
                    container_or_host(Name, Family)
            end;
        error ->
            {error, einval}
    end.

container_or_host(Name, Family) ->
    Start = erlang:monotonic_time(millisecond),
    case resolve(Name, Family) of
        {ok, Ip} ->
            {ok, Ip};
        {ok, Ip, Port} ->
            %% The container's published distribution port (the
            %% container's own address is not reachable from here): dial
            %% it directly, skipping epmd.
            {ok, Ip, Port, 6};
        {error, not_published} ->
            ?LOG_WARNING("epmd_docker: container ~ts: ~ts",
                         [Name, format_error(not_published)]),
            {error, not_published};
        {error, {ambiguous, Candidates}} ->
            ?LOG_WARNING("epmd_docker: ~ts names several running containers: "
                         "~ts; dial one by its container name or ID",
                         [Name, lists:join(", ", Candidates)]),
            {error, ambiguous};
        {error, no_address} ->
            ?LOG_WARNING("epmd_docker: container ~ts has no ~ts address",
                         [Name, family_text(Family)]),
            {error, no_address};
        {error, Why} when Why =:= not_found; Why =:= helper_unavailable;
                          Why =:= docker_unavailable; Why =:= bad_host ->
            %% No container answers to it, or none can be known: perhaps an
            %% ordinary host, asked within what is left of the budget.
            ordinary(Name, Family, Why, Start);
        {error, Why} ->
            %% The helper is down, behind or broken (timeout, helper_down,
            %% unresponsive, overloaded, bad_reply): the name may well be a
            %% container's, so an ordinary lookup (NXDOMAIN, or worse, some
            %% other host's address) would be a wrong answer.
            ?LOG_WARNING("epmd_docker: cannot look up ~ts: ~ts",
                         [Name, format_error(Why)]),
            {error, Why}
    end.

%% One lookup, one budget: the request timeout covers the helper and the
%% ordinary lookup together, so that net_kernel, which waits for
%% address_please/3 during select/1, is held for one timeout at most.
ordinary(Name, Family, Why, Start) ->
    Left = epmd_docker_helper:timeout() -
        (erlang:monotonic_time(millisecond) - Start),
    case inet:getaddr(Name, Family, max(?MIN_ORDINARY, Left)) of
        {ok, Ip} ->
            {ok, Ip};
        {error, Error} ->
            ?LOG_WARNING("epmd_docker: host ~ts resolves nowhere: Docker: ~ts; "
                         "ordinary lookup: ~ts",
                         [Name, format_error(Why), format_error(Error)]),
            {error, Error}
    end.

%% inet:parse_strict_address/1 costs tens of microseconds for a name that is
%% not an address, longer than a warm lookup in the table: only a name that
%% can be a literal address (digits and dots, or a colon) is parsed.
literal_address(Name) ->
    case lists:all(fun(C) -> (C >= $0 andalso C =< $9) orelse C =:= $. end, Name)
        orelse lists:member($:, Name) of
        true -> inet:parse_strict_address(Name);
        false -> {error, einval}
    end.

%% Family as erl_epmd picks it for port_please/names by host name.
address(Host) when is_tuple(Host) ->
    {ok, Host};
address(Host) ->
    Family = case inet_db:res_option(inet6) of
                 true -> inet6;
                 _ -> inet
             end,
    address_please("", Host, Family).

host_string(Host) when is_atom(Host) ->
    {ok, atom_to_list(Host)};
host_string(Host) when is_binary(Host) ->
    case unicode:characters_to_list(Host) of
        Name when is_list(Name) -> {ok, Name};
        _ -> error
    end;
host_string(Host) when is_list(Host) ->
    case io_lib:char_list(Host) of
        true -> {ok, Host};
        false -> error
    end;
host_string(_) ->
    error.

host_binary(Host) ->
    case host_string(Host) of
        {ok, Name} ->
            case unicode:characters_to_binary(Name) of
                Bin when is_binary(Bin) -> {ok, Bin};
                _ -> error
            end;
        error ->
            error
    end.

family_text(inet) -> "IPv4";
family_text(inet6) -> "IPv6".

creation() ->
    %% OTP 23 and later take any 32-bit creation. Drawn here rather than
    %% {ok, -1}: for -1, net_kernel draws it with crypto:strong_rand_bytes/1,
    %% and loading crypto at boot costs tens of milliseconds of start-up
    %% (see BENCHMARKS.md). 0..3 are left to old-style epmd registrations.
    try list_to_integer(erlang:system_info(otp_release)) of
        Release when Release >= 23 -> 3 + rand:uniform(16#FFFFFFFF - 3);
        %% Before OTP 23 net_kernel takes the creation as given: 1..3.
        _ -> rand:uniform(3)
    catch
        error:badarg -> rand:uniform(3)
    end.

dist_port() ->
    case os:getenv("ERL_DIST_PORT") of
        false ->
            0;
        Text ->
            try list_to_integer(string:trim(Text)) of
                Port when Port > 0, Port < 65536 -> Port;
                _ -> 0
            catch
                error:badarg -> 0
            end
    end.

%% The atoms of the valid names among Names, in order, at most
%% ?MAX_NODES_PER_HOST per host part, and how many were left out. No atom is
%% made before a name has passed.
node_atoms(Names) ->
    {Atoms, _PerHost, Dropped} =
        lists:foldl(fun(Name, {Acc, PerHost, Dropped}) ->
                            case valid_node(Name) of
                                {true, Host} ->
                                    N = maps:get(Host, PerHost, 0),
                                    case N < ?MAX_NODES_PER_HOST of
                                        true ->
                                            {[binary_to_atom(Name, utf8) | Acc],
                                             PerHost#{Host => N + 1}, Dropped};
                                        false ->
                                            {Acc, PerHost, Dropped + 1}
                                    end;
                                false ->
                                    {Acc, PerHost, Dropped + 1}
                            end
                    end, {[], #{}, 0}, Names),
    {lists:usort(Atoms), Dropped}.

%% Name@Host with Name of letters, digits, _ - and ., Host a host name as
%% the helper checks it, 255 bytes at most (an atom's limit): the rules of
%% go/internal/discover.ValidNode.
valid_node(Node) when is_binary(Node), byte_size(Node) =< 255 ->
    case binary:split(Node, <<"@">>) of
        [Name, Host] when Name =/= <<>>, Host =/= <<>> ->
            case name_chars(Name) andalso host_chars(Host) of
                true -> {true, Host};
                false -> false
            end;
        _ ->
            false
    end;
valid_node(_) ->
    false.

name_chars(Name) ->
    lists:all(fun(C) -> alnum(C) orelse C =:= $_ orelse C =:= $- orelse C =:= $. end,
              binary_to_list(Name)).

host_chars(<<First, _/binary>> = Host) ->
    alnum(First) andalso
        lists:all(fun(C) -> alnum(C) orelse C =:= $_ orelse C =:= $- orelse C =:= $. end,
                  binary_to_list(Host));
host_chars(_) ->
    false.

alnum(C) ->
    (C >= $a andalso C =< $z) orelse (C >= $A andalso C =< $Z) orelse (C >= $0 andalso C =< $9).

%% erl_epmd:names/1 connects without a timeout and waits for the reply
%% without one, so it runs in a process of its own that is killed when the
%% time is up.
%% With -erl_epmd_port (which ERL_DIST_PORT sets, as relx's start script
%% does for its control commands) erl_epmd answers that port for every node
%% without asking anyone, which would send this node to the wrong port of
%% every container. So then the epmd at the address is asked first, and the
%% fixed port is the answer only where no epmd knows the node.
epmd_port_please(Name, Ip, Timeout) ->
    case init:get_argument(erl_epmd_port) of
        error ->
            erl_epmd:port_please(Name, Ip, Timeout);
        {ok, _} ->
            case ask_epmd(Name, Ip, Timeout) of
                {port, _, _} = Found -> Found;
                _ -> erl_epmd:port_please(Name, Ip, Timeout)
            end
    end.

%% PORT_PLEASE2_REQ of the ERTS distribution protocol: <<Len:16, $z, Name>>,
%% answered by <<$w, 0, Port:16, Type, Proto, Highest:16, Lowest:16, ...>>,
%% or <<$w, Error>> for a name epmd does not know.
ask_epmd(Name, Ip, Timeout) ->
    NameBin = unicode:characters_to_binary(name_string(Name)),
    Options = [binary, {packet, 0}, {active, false}],
    case gen_tcp:connect(Ip, epmd_port(), Options, Timeout) of
        {ok, Socket} ->
            try
                ok = gen_tcp:send(Socket, [<<(byte_size(NameBin) + 1):16, $z>>,
                                           NameBin]),
                case gen_tcp:recv(Socket, 2, Timeout) of
                    {ok, <<$w, 0>>} ->
                        {ok, <<Port:16, _Type, _Proto, Highest:16, Lowest:16>>} =
                            gen_tcp:recv(Socket, 8, Timeout),
                        %% As erl_epmd picks it: the highest both ends speak.
                        {port, Port, max(Lowest, min(Highest, 6))};
                    {ok, <<$w, _Error>>} ->
                        noport
                end
            catch
                _:_ -> closed
            after
                gen_tcp:close(Socket)
            end;
        {error, _} ->
            noport
    end.

name_string(Name) when is_atom(Name) -> atom_to_list(Name);
name_string(Name) -> Name.

epmd_port() ->
    case os:getenv("ERL_EPMD_PORT") of
        false ->
            4369;
        Text ->
            try list_to_integer(string:trim(Text)) of
                Port when Port > 0, Port < 65536 -> Port;
                _ -> 4369
            catch
                error:badarg -> 4369
            end
    end.

epmd_names(Ip, Timeout) ->
    [Result] = pmap(fun erl_epmd:names/1, [Ip], Timeout, {error, address}),
    Result.

%% Fun applied to each item in a process of its own, all within one
%% Timeout; Default for each that fails or is not done in time. No reply
%% is left behind in the caller's mailbox.
pmap(Fun, Items, Timeout, Default) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    Parent = self(),
    Jobs = [begin
                Tag = make_ref(),
                {Pid, Ref} =
                    spawn_monitor(fun() ->
                                          Parent ! {Tag, run(Fun, Item, Default)}
                                  end),
                {Tag, Pid, Ref}
            end || Item <- Items],
    [collect(Job, Deadline, Default) || Job <- Jobs].

run(Fun, Item, Default) ->
    try Fun(Item) catch _:_ -> Default end.

%% A job's reply is sent before it exits, so it is always ahead of its 'DOWN'.
collect({Tag, Pid, Ref}, Deadline, Default) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Tag, Result} ->
            erlang:demonitor(Ref, [flush]),
            Result;
        {'DOWN', Ref, process, Pid, _Crash} ->
            Default
    after Left ->
            exit(Pid, kill),
            receive {'DOWN', Ref, process, Pid, _} -> ok end,
            receive {Tag, _Late} -> ok after 0 -> ok end,
            Default
    end.

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

register_node_test() ->
    %% A 32-bit creation outside the 0..3 of old-style registrations, and a
    %% fresh one each time, as epmd would give.
    {ok, A} = register_node("shell", 4370, inet_tcp),
    {ok, B} = register_node(shell, 4370),
    ?assert(A >= 4 andalso A =< 16#FFFFFFFF),
    ?assert(B >= 4 andalso B =< 16#FFFFFFFF),
    ?assertNotEqual(A, B).

listen_port_please_test() ->
    Old = os:getenv("ERL_DIST_PORT"),
    try
        os:unsetenv("ERL_DIST_PORT"),
        ?assertEqual({ok, 0}, listen_port_please(shell, "host")),
        os:putenv("ERL_DIST_PORT", "9100"),
        ?assertEqual({ok, 9100}, listen_port_please(shell, "host")),
        os:putenv("ERL_DIST_PORT", "ninety"),
        ?assertEqual({ok, 0}, listen_port_please(shell, "host"))
    after
        case Old of
            false -> os:unsetenv("ERL_DIST_PORT");
            _ -> os:putenv("ERL_DIST_PORT", Old)
        end
    end.

literal_address_test_() ->
    %% Literal addresses never reach the helper.
    [?_assertEqual({ok, {127, 0, 0, 1}}, address_please("n", "127.0.0.1", inet)),
     ?_assertEqual({ok, {10, 1, 2, 3}}, address_please("n", {10, 1, 2, 3}, inet)),
     ?_assertEqual({ok, {0, 0, 0, 0, 0, 0, 0, 1}},
                   address_please("n", "::1", inet6))].

bad_host_test_() ->
    [?_assertEqual({error, einval}, address_please("n", [foo], inet)),
     ?_assertEqual({error, bad_host}, resolve(<<255, 0>>)),
     ?_assertEqual({error, bad_host}, resolve({1, 2}))].

host_string_test_() ->
    [?_assertEqual({ok, "web"}, host_string(web)),
     ?_assertEqual({ok, "web"}, host_string(<<"web">>)),
     ?_assertEqual({ok, "web"}, host_string("web")),
     ?_assertEqual(error, host_string(["web"]))].

node_atoms_test_() ->
    Many = [<<"n", (integer_to_binary(I))/binary, "@h">> || I <- lists:seq(1, 100)],
    [?_assertEqual({['a@web', 'b@web'], 0}, node_atoms([<<"b@web">>, <<"a@web">>])),
     ?_assertEqual({[], 4}, node_atoms([<<"\e[31m@web">>, <<"a@">>, <<"noat">>, 42])),
     ?_assertMatch({L, 36} when length(L) =:= 64, node_atoms(Many))].

pmap_test_() ->
    [?_assertEqual([2, 4], pmap(fun(X) -> 2 * X end, [1, 2], 1000, none)),
     ?_assertEqual([none], pmap(fun(_) -> error(boom) end, [1], 1000, none)),
     {timeout, 5,
      ?_assertEqual([none, 1],
                    pmap(fun(0) -> timer:sleep(infinity); (X) -> X end,
                         [0, 1], 200, none))}].

-endif.
