package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/cli"
)

const evalHelp = `Usage: epmd-docker eval TARGET [EXPR | -] [flags]

Evaluates Erlang expressions on a node in a container and prints the
value of the last one, as ~tp prints it; for scripts, health checks and
CI. TARGET is as for remsh (node@TARGET or TARGET, the node found as remsh
finds it, never by asking: several nodes are an error). EXPR is one or
more expressions, each ending in a period (the last one may go without);
without EXPR, or with -, they are read from stdin. What the expressions
print (io:format) appears on stdout before the value, as they run on the
node with their output sent here.

  epmd-docker eval app@web 'erlang:system_info(otp_release).'
  echo 'length(erlang:processes()).' | epmd-docker eval web

A hidden node of the host's erl, named eval-XXXXXXXX, connects to the node
and calls erl_eval there (erpc); nothing is left running on the node
afterwards. Ending the command (end of input, Ctrl-C, kill -9) never
stops the node.

Flags:
  --cookie C                the cookie (prefer ERLANG_COOKIE; see remsh)
  --cookie-from-container   the container's RELEASE_COOKIE or ERLANG_COOKIE,
                            or the -setcookie in its command line (for a
                            pod, also from a Secret; see remsh)
  --json                    print {"node", "result"} or {"node", "error",
                            "message"} (error: syntax, unreachable, raised,
                            timeout)
  --timeout D               give up on the node's answer after D (default
                            60s; 0 waits for ever)

The cookie is found as remsh finds it, and handed to erl the same way.

Exit status: 0 the value was printed; 1 target or node not found, or
several nodes; 2 usage error, or EXPR does not parse; 3 Docker could not be
reached; 4 the node cannot be reached, or did not answer in time; 5 the
node refused the cookie; 6 the expression raised an exception (error,
exit or throw; printed on stderr).
`

// Exit statuses of eval (and of remsh without a terminal), beyond those
// of every command.
const (
	exitUnreachable   = 4
	exitCookieRefused = 5
	exitRaised        = 6
)

// evalCmd is `epmd-docker eval`: expressions evaluated on a container's
// node, for scripts.
type evalCmd struct {
	std stdio
}

// evalOptions shape how evalOn reports.
type evalOptions struct {
	json    bool
	timeout time.Duration // 0: none
}

func (c *evalCmd) run(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("eval", flag.ContinueOnError)
	var cookies cookieFlag
	fset.Var(&cookies, "cookie", "")
	fromContainer := fset.Bool("cookie-from-container", false, "")
	asJSON := fset.Bool("json", false, "")
	timeout := fset.Duration("timeout", 60*time.Second, "")
	pos, rest, err := parseFlags(fset, "eval", evalHelp, c.std.out, args)
	if err != nil {
		return err
	}
	pos = append(pos, rest...)
	if len(pos) < 1 || len(pos) > 2 {
		return cmdUsageError("eval", "takes TARGET and EXPR (or - for stdin), got %d arguments", len(pos))
	}
	if *timeout < 0 {
		return cmdUsageError("eval", "--timeout must not be negative")
	}
	var in io.Reader = c.std.in
	if len(pos) == 2 && pos[1] != "-" {
		in = strings.NewReader(pos[1])
	}
	lib, err := findLibrary()
	if err != nil {
		return err
	}
	t, err := locate(ctx, c.std, "eval", pos[0], cookies, *fromContainer, false)
	if err != nil {
		if *asJSON {
			// A failure before erl runs still answers in JSON.
			_ = cli.JSON(c.std.out, evalAnswer{Node: pos[0], Error: evalKindOf(err), Message: err.Error()})
		}
		return err
	}
	return evalOn(ctx, c.std, t, lib.Ebin, in, evalOptions{json: *asJSON, timeout: *timeout})
}

// evalAnswer is eval's answer as JSON.
type evalAnswer struct {
	Node    string `json:"node"`
	Result  string `json:"result,omitempty"`
	Error   string `json:"error,omitempty"` // syntax, unreachable, raised, timeout, ...
	Message string `json:"message,omitempty"`
}

// evalKindOf names, for JSON, why locate failed.
func evalKindOf(err error) string {
	switch {
	case errors.Is(err, errUnreachable):
		return "unreachable"
	case errors.Is(err, errCookieRefused):
		return "cookie_refused"
	case errors.Is(err, errUsage):
		return "usage"
	}
	return "not_found"
}

// evalDriver runs in the local erl (-eval). It reads the expressions from
// stdin, connects to the node, evaluates them there with erpc, and writes
// the outcome to the file named by its third plain argument (fd 3, a pipe
// to epmd-docker): a kind on the first line, then text. stdout is left to
// what the expressions print. Written as one expression, because -eval
// takes one.
const evalDriver = `begin
  [N, T, R] = init:get_plain_arguments(),
  Node = list_to_atom(N),
  Timeout = case list_to_integer(T) of 0 -> infinity; Ms -> Ms end,
  {ok, Res} = file:open(R, [write, raw, binary]),
  Done = fun(Kind, Text) ->
      _ = file:write(Res, [Kind, $\n, unicode:characters_to_binary(Text)]),
      _ = file:close(Res),
      erlang:halt(0, [{flush, true}])
  end,
  ok = io:setopts(standard_io, [binary]),
  Read = fun Read(Acc) ->
      case io:get_chars(standard_io, '', 65536) of
          Data when is_binary(Data) -> Read([Acc, Data]);
          _ -> iolist_to_binary(Acc)
      end
  end,
  Split = fun Split([], [], Acc, _) -> lists:reverse(Acc);
              Split([], Cur, Acc, E) -> lists:reverse([lists:reverse([{dot, E} | Cur]) | Acc]);
              Split([{dot, _} = D | Ts], Cur, Acc, E) -> Split(Ts, [], [lists:reverse([D | Cur]) | Acc], E);
              Split([Tok | Ts], Cur, Acc, E) -> Split(Ts, [Tok | Cur], Acc, E)
          end,
  Where = fun(L) -> io_lib:format("~p", [L]) end,
  Parsed = case unicode:characters_to_list(Read([])) of
      Src when is_list(Src) ->
          case erl_scan:string(Src) of
              {ok, [], _} -> {error, "no expression"};
              {ok, Toks, End} ->
                  lists:foldl(
                    fun(_, {error, _} = E) -> E;
                       (C, {ok, Acc}) ->
                            case erl_parse:parse_exprs(C) of
                                {ok, Es} -> {ok, Acc ++ Es};
                                {error, {L, M, D}} -> {error, ["line ", Where(L), ": ", M:format_error(D)]}
                            end
                    end, {ok, []}, Split(Toks, [], [], End));
              {error, {L, M, D}, _} -> {error, ["line ", Where(L), ": ", M:format_error(D)]}
          end;
      _ -> {error, "the input is not UTF-8"}
  end,
  Raised = fun(Class, Reason, Stack) ->
      Done("raised", erl_error:format_exception(Class, Reason, Stack, #{}))
  end,
  case Parsed of
      {error, Why} -> Done("syntax", Why);
      {ok, Exprs} ->
          case net_kernel:connect_node(Node) of
              true ->
                  try erpc:call(Node, erl_eval, exprs, [Exprs, []], Timeout) of
                      {value, V, _} -> Done("ok", io_lib:format("~tp", [V]))
                  catch
                      error:{erpc, timeout} -> Done("timeout", "no answer in time");
                      error:{erpc, noconnection} -> Done("unreachable", "the connection to the node was lost");
                      error:{exception, Reason, Stack} -> Raised(error, Reason, Stack);
                      exit:{exception, Reason} -> Raised(exit, Reason, []);
                      throw:Thrown -> Raised(throw, Thrown, []);
                      Class:Reason -> Raised(Class, Reason, [])
                  end;
              _ -> Done("unreachable", ["cannot connect to ", N])
          end
  end
end.`

// evalArgv is the command line of the local erl that evaluates on node.
// +Bd: Ctrl-C ends it at once, with no break menu waiting for input.
func evalArgv(ebin, sname, node string, timeout time.Duration, result string) []string {
	return []string{"erl", "+Bd", "-noshell", "-pa", ebin, "-start_epmd", "false", "-epmd_module", "epmd_docker",
		"-hidden", "-sname", sname, "-eval", evalDriver,
		"-extra", node, strconv.FormatInt(timeout.Milliseconds(), 10), result}
}

// evalOn evaluates what in holds on the node t, and reports as eval does.
func evalOn(ctx context.Context, std stdio, t located, ebin string, in io.Reader, o evalOptions) error {
	path, err := exec.LookPath("erl")
	if err != nil {
		return errors.New("erl is not on PATH")
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	outcome := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(bufio.NewReader(rd))
		outcome <- string(b)
	}()
	cookie := ""
	if t.private {
		cookie = t.cookie
	}
	argv := evalArgv(ebin, "eval-"+randomHex(4), t.node, o.timeout, "/dev/fd/3")
	runErr := runErl(erlRun{path: path, argv: argv, cookie: cookie, std: stdio{in, std.out, std.err}, extra: []*os.File{wr}})

	var got string
	select {
	case got = <-outcome:
	case <-time.After(2 * time.Second):
		// A process erl started keeps the pipe open; erl is gone.
	}
	kind, text, _ := strings.Cut(got, "\n")
	ans := evalAnswer{Node: t.node}
	var status int
	switch kind {
	case "ok":
		ans.Result = text
	case "syntax":
		ans.Error, ans.Message, status = kind, "syntax error: "+text, exitUsage
	case "unreachable", "timeout":
		ans.Error, ans.Message, status = kind, text, exitUnreachable
	case "raised":
		ans.Error, ans.Message, status = kind, text, exitRaised
	default:
		// erl ended without an outcome: killed, or it could not start.
		var st exitStatus
		if errors.As(runErr, &st) && st != 0 {
			return st
		}
		if runErr != nil {
			return runErr
		}
		return fmt.Errorf("erl ended without evaluating on %s", t.node)
	}
	if o.json {
		if err := cli.JSON(std.out, ans); err != nil {
			return err
		}
	} else if ans.Error == "" {
		fmt.Fprintln(std.out, ans.Result)
	}
	if status == 0 {
		return nil
	}
	fmt.Fprintf(std.err, "epmd-docker: %s: %s\n", cli.Safe(t.node), safeText(strings.TrimRight(ans.Message, "\n")))
	return exitStatus(status)
}
