%% The Erlang end of the end-to-end tests: a long-lived admin node that
%% evaluates one expression per line read from standard input and prints the
%% result on one line, so the Go tests can drive the same node through a
%% whole scenario (connect, restart a container, connect again).
%%
%% Input line:  Id Expression.      e.g. 7 net_kernel:connect_node('a@b').
%% Output line: @@RESULT Id Term    e.g. @@RESULT 7 true
%% Any other output (logger reports) is passed through for the tests to read.
-module(e2e_driver).
-export([main/0]).

-spec main() -> no_return().
main() ->
    loop(),
    erlang:halt(0).

loop() ->
    case io:get_line('') of
        eof -> ok;
        {error, _} -> ok;
        Line ->
            handle(string:trim(Line)),
            loop()
    end.

handle("") ->
    ok;
handle(Line) ->
    {IdText, Expr} = string:take(Line, "0123456789"),
    Id = list_to_integer(IdText),
    Result =
        try
            {ok, Tokens, _} = erl_scan:string(Expr),
            {ok, Exprs} = erl_parse:parse_exprs(Tokens),
            {value, Value, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
            Value
        catch
            Class:Reason -> {driver_exception, Class, Reason}
        end,
    io:format("~n@@RESULT ~b ~0tp~n", [Id, Result]).
