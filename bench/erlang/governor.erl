%% The governor table (docs/governor.md, core/src/governor.rs `step`) as an Erlang gen_statem,
%% and a driver that times it on a fixed pseudo-random trace, for bench/governor-vs-erlang.sh.
%%
%% Callback mode: state_functions. The governor's state is one of five atoms and the table is
%% written state by state, so one function per state reads like the table; handle_event_function
%% would only pay off if the state were a compound term.
%%
%% Data: {ConsecutiveHigh, EnteredAtMs}. Events: {signal, V, NowMs}, {action_succeeded, NowMs},
%% {action_failed, NowMs}, {reset, NowMs}; NowMs is passed in (the core is sans-IO too: its
%% caller passes now_ms), so no clock is read inside a transition. Every call is answered with
%% {To, ConsecutiveHigh, Action}, Action being none | {throttle, P} | pause | {shed, P}.
%%
%% Run: erlc -o OUT bench/erlang/governor.erl &&
%%      erl -noshell -pa OUT -eval 'governor:main(["1000000"])' -s init stop
%% prints one line per mode:
%%   erlang mode=<call|pure> events=<N> ns_per_event=<x> checksum=<y>
-module(governor).
-behaviour(gen_statem).

-export([main/1, trace/1, checksum/1]).
-export([init/1, callback_mode/0, stable/3, warn/3, intervene/3, degrade/3, refuse/3]).

%% Thresholds::DEFAULT.
-define(WARN, 75).
-define(RECOVER, 70).
-define(INTERVENE, 90).
-define(REFUSE, 95).
-define(SUSTAIN, 3).

-define(DEFAULT_EVENTS, 1000000).

%% --- gen_statem -------------------------------------------------------------------------

init([]) -> {ok, stable, {0, 0}}.

callback_mode() -> state_functions.

stable(T, {reset, Now}, D) -> go(T, stable, stable, 0, none, Now, D);
stable(T, {signal, V, Now}, D) when V >= ?INTERVENE ->
    go(T, stable, intervene, 0, {throttle, 50}, Now, D);
stable(T, {signal, V, Now}, D) when V >= ?WARN -> go(T, stable, warn, 1, none, Now, D);
stable(T, {signal, _, Now}, D) -> go(T, stable, stable, 0, none, Now, D);
stable(T, {_Outcome, Now}, D) -> unchanged(T, stable, Now, D).

warn(T, {reset, Now}, D) -> go(T, warn, stable, 0, none, Now, D);
warn(T, {signal, V, Now}, D) when V >= ?INTERVENE ->
    go(T, warn, intervene, 0, {throttle, 50}, Now, D);
warn(T, {signal, V, Now}, {C, _} = D) when V >= ?WARN ->
    case C + 1 >= ?SUSTAIN of
        true -> go(T, warn, degrade, 0, {throttle, 25}, Now, D);
        false -> go(T, warn, warn, C + 1, none, Now, D)
    end;
warn(T, {signal, V, Now}, D) when V >= ?RECOVER -> go(T, warn, warn, 0, none, Now, D);
warn(T, {signal, _, Now}, D) -> go(T, warn, stable, 0, none, Now, D);
warn(T, {_Outcome, Now}, D) -> unchanged(T, warn, Now, D).

intervene(T, {reset, Now}, D) -> go(T, intervene, stable, 0, none, Now, D);
intervene(T, {signal, V, Now}, D) when V < ?WARN -> go(T, intervene, warn, 0, none, Now, D);
intervene(T, {signal, _, Now}, D) -> go(T, intervene, intervene, 0, none, Now, D);
intervene(T, {action_succeeded, Now}, D) -> go(T, intervene, warn, 0, none, Now, D);
intervene(T, {action_failed, Now}, D) -> go(T, intervene, degrade, 0, pause, Now, D).

degrade(T, {reset, Now}, D) -> go(T, degrade, stable, 0, none, Now, D);
degrade(T, {signal, V, Now}, D) when V < ?RECOVER -> go(T, degrade, intervene, 0, none, Now, D);
degrade(T, {signal, V, Now}, D) when V > ?REFUSE ->
    go(T, degrade, refuse, 0, {shed, 50}, Now, D);
degrade(T, {signal, _, Now}, D) -> go(T, degrade, degrade, 0, none, Now, D);
degrade(T, {_Outcome, Now}, D) -> unchanged(T, degrade, Now, D).

refuse(T, {reset, Now}, D) -> go(T, refuse, stable, 0, none, Now, D);
refuse(T, {signal, _, Now}, D) -> go(T, refuse, refuse, 0, none, Now, D);
refuse(T, {_Outcome, Now}, D) -> unchanged(T, refuse, Now, D).

%% An outcome outside Intervene changes nothing (it is still answered).
unchanged(T, State, Now, {C, _} = D) -> go(T, State, State, C, none, Now, D).

%% Moves to To with consecutive_high C; EnteredAtMs restarts only when the state changes.
go({call, From}, From0, To, C, Action, Now, {_, Entered}) ->
    EnteredAt = case To of
        From0 -> Entered;
        _ -> Now
    end,
    {next_state, To, {C, EnteredAt}, [{reply, From, {To, C, Action}}]}.

%% --- the trace (same generator as core/tests/governor_trace.rs) ---------------------------

%% An LCG modulo 2^32 (Numerical Recipes' constants) from seed 42. Each event takes the next
%% value X and M = (X bsr 16) rem 108: M =< 100 is a signal of value M, 101..102 an
%% ActionSucceeded, 103..104 an ActionFailed, 105..107 a Reset. NowMs is the event's index.
-define(SEED, 42).

next(X) -> (1664525 * X + 1013904223) band 16#FFFFFFFF.

trace(N) -> trace(N, 0, ?SEED, []).

trace(N, N, _, Acc) -> lists:reverse(Acc);
trace(N, I, X0, Acc) ->
    X = next(X0),
    Ev = case (X bsr 16) rem 108 of
        M when M =< 100 -> {signal, M, I};
        M when M =< 102 -> {action_succeeded, I};
        M when M =< 104 -> {action_failed, I};
        _ -> {reset, I}
    end,
    trace(N, I + 1, X, [Ev | Acc]).

%% --- the checksum (same fold as core/tests/governor_trace.rs) ------------------------------

%% H = (H * 1000003 + Code) mod 2^32 from 0, with Code = (State * 256 + C) * 512 + A,
%% State the index in Stable..Refuse and A: none 0, {throttle, P} 1 + P, pause 200,
%% {shed, P} 300 + P.
fold(H, To, C, Action) ->
    (H * 1000003 + (state_code(To) * 256 + C) * 512 + action_code(Action)) band 16#FFFFFFFF.

state_code(stable) -> 0;
state_code(warn) -> 1;
state_code(intervene) -> 2;
state_code(degrade) -> 3;
state_code(refuse) -> 4.

action_code(none) -> 0;
action_code({throttle, P}) -> 1 + P;
action_code(pause) -> 200;
action_code({shed, P}) -> 300 + P.

%% The checksum of the pure mode over a trace (used for the Rust test's expected value).
checksum(Trace) -> pure(Trace, stable, {0, 0}, 0).

%% --- the two modes --------------------------------------------------------------------------

%% Through a gen_statem process: one gen_statem:call/2 per event from this (client) process.
by_call([], _Pid, H) -> H;
by_call([Ev | Rest], Pid, H) ->
    {To, C, Action} = gen_statem:call(Pid, Ev),
    by_call(Rest, Pid, fold(H, To, C, Action)).

%% Direct calls of the state function: no process, no message.
pure([], _State, _Data, H) -> H;
pure([Ev | Rest], State, Data, H) ->
    {next_state, To, Data1, [{reply, _, {To, C, Action}}]} =
        ?MODULE:State({call, none}, Ev, Data),
    pure(Rest, To, Data1, fold(H, To, C, Action)).

timed(Fun) ->
    T0 = erlang:monotonic_time(nanosecond),
    H = Fun(),
    {erlang:monotonic_time(nanosecond) - T0, H}.

report(Mode, N, Ns, H) ->
    io:format("erlang mode=~s events=~b ns_per_event=~.2f checksum=~b~n", [Mode, N, Ns / N, H]).

main(Args) ->
    N = case Args of
        [A | _] -> list_to_integer(A);
        [] -> ?DEFAULT_EVENTS
    end,
    Trace = trace(N),
    {ok, Pid} = gen_statem:start_link(?MODULE, [], []),
    {CallNs, CallH} = timed(fun() -> by_call(Trace, Pid, 0) end),
    report(call, N, CallNs, CallH),
    {PureNs, PureH} = timed(fun() -> pure(Trace, stable, {0, 0}, 0) end),
    report(pure, N, PureNs, PureH),
    ok = gen_statem:stop(Pid).
