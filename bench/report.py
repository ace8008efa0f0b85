"""The lines ``python -m bench`` prints for the channel scenarios: each runs its benchmark's process
(its medians as one JSON line, echoed on stderr) and says what was measured, the figures of every round,
and whether the target is met."""

from __future__ import annotations

import json
import sys

from bench.common import format_rounds, run_scenario


def telegram_out(rounds: int, explicit: bool) -> None:
    """``explicit``: the rounds were asked for (not the default of this scenario)."""
    from bench.telegram_bench import TARGET_OUT_PER_S

    r = run_scenario(["bench.telegram_bench", "--scenario=out", f"--rounds={rounds}"])
    print(json.dumps(r), file=sys.stderr)
    per = r["per_round"]
    note = "" if explicit else f" (default {rounds} for this scenario)"
    print(
        f"telegram outbound: {r['messages']} replies to {r['chats']} chats (1-3 each, some with keyboards)"
        " through the real TelegramChannel and OutboxSender (default pacing: 29/s per bot, 3 in a row"
        " per chat), into the fake Bot API in its own process enforcing Telegram's limits"
        f" (30/s per bot, 3 per 3 s per chat); medians of {rounds} rounds{note}"
    )
    print(
        f"  sustained msg/s as the fake accepted them: {r['messages_per_s']:.1f}"
        f"   (rounds: {format_rounds([x['messages_per_s'] for x in per])})"
    )
    print(
        f"  429 received: {r['too_many']:g}   (rounds: {format_rounds([x['too_many'] for x in per], 0)});"
        f" replies sent again: {format_rounds([x['retried'] for x in per], 0)};"
        f" failed: {sum(x['failed'] for x in per)}"
    )
    print(f"  outbox drained in s: {format_rounds([x['drain_s'] for x in per])}")
    ok = r["messages_per_s"] >= TARGET_OUT_PER_S and r["too_many_total"] == 0
    print(f"  {'meets' if ok else 'MISSES'} target >= {TARGET_OUT_PER_S} msg/s with zero 429")


def telegram_in(rounds: int, conversations: int) -> None:
    from bench.telegram_bench import TARGET_IN_P99_MS, TARGET_IN_SHARE

    r = run_scenario(
        ["bench.telegram_bench", "--scenario=in", f"--rounds={rounds}", f"--conversations={conversations}"]
    )
    print(json.dumps(r), file=sys.stderr)
    per = r["per_round"]
    print(
        f"telegram inbound: {r['conversations']} conversations ({r['updates']:,} updates, typed text and"
        f" button presses) by {r['concurrency']} concurrent clients, medians of {rounds} rounds;"
        " pacing lifted for this scenario (the fake enforces no limits, the channel's limiter is raised)"
    )
    print(
        f"  durable (POST /webhooks/telegram over loopback -> inbox -> engine -> outbox -> aiogram -> fake):"
        f" {r['durable_updates_per_s']:,.0f} updates/s processed and answered"
        f"   (rounds: {format_rounds([x['durable_updates_per_s'] for x in per], 0)})"
    )
    print(
        f"    webhook answered in p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms;"
        f" all acknowledged at {r['acknowledged_updates_per_s']:,.0f} updates/s;"
        f" {per[0]['replies']:,} replies and {per[0]['api_calls']:,} Bot API calls a round"
    )
    print(
        f"  bare aiogram echo (Dispatcher.feed_update -> message.answer / callback answer + message -> fake):"
        f" {r['echo_updates_per_s']:,.0f} updates/s"
        f"   (rounds: {format_rounds([x['echo_updates_per_s'] for x in per], 0)})"
    )
    share = r["share"]
    print(
        f"  durable / echo: {100 * share:.1f} % (median of the rounds' ratios;"
        f" rounds: {format_rounds([100 * x['share'] for x in per])} %)"
    )
    print(
        f"  CPU per update, event loop's thread (process): durable {r['loop_cpu_us']:,.0f}"
        f" ({r['process_cpu_us']:,.0f}) us, echo {r['echo_loop_cpu_us']:,.0f}"
        f" ({r['echo_process_cpu_us']:,.0f}) us;"
        f" echo / durable {100 * r['echo_loop_cpu_us'] / r['loop_cpu_us']:.1f} %"
    )
    verdict = "meets" if share >= TARGET_IN_SHARE and r["p99_ms"] <= TARGET_IN_P99_MS else "MISSES"
    print(f"  {verdict} >= {100 * TARGET_IN_SHARE:.0f} % of the echo with p99 <= {TARGET_IN_P99_MS} ms")


def whatsapp_out(rounds: int | None) -> None:
    from bench.whatsapp_bench import DEFAULT_ROUNDS, MAX_PER_SECOND, PAIR_LIMIT, TARGET_OUT_PER_S

    rounds = rounds or DEFAULT_ROUNDS
    r = run_scenario(["bench.whatsapp_bench", "--scenario=out", f"--rounds={rounds}"])
    print(json.dumps(r), file=sys.stderr)
    per = r["per_round"]
    print(
        f"whatsapp outbound: {r['replies']} replies to {r['clients']} clients (1-3 each, questions as"
        " reply buttons or lists) through the real WhatsAppChannel (its Graph client) and OutboxSender"
        f" with WHATSAPP_MAX_PER_SECOND={r['max_per_second']}, into the fake Graph API in its own process"
        f" enforcing {r['max_per_second']}/s (130429 beyond) and {PAIR_LIMIT} per client in 6 s (131056);"
        f" medians of {rounds} rounds"
    )
    print(
        f"  sustained msg/s as the fake accepted them: {r['messages_per_s']:.1f}"
        f"   (rounds: {format_rounds([x['messages_per_s'] for x in per])};"
        f" {per[0]['accepted']} sends a round)"
    )
    print(
        f"  130429 received: {format_rounds([x['too_many'] for x in per], 0)};"
        f" 131056 received: {format_rounds([x['pair_rate'] for x in per], 0)};"
        f" replies sent again: {format_rounds([x['retried'] for x in per], 0)};"
        f" failed: {sum(x['failed'] for x in per)}"
    )
    print(
        "  most sends in any 1 s, arrived / accepted: "
        + "; ".join(f"{x['max_arrived_in_1s']} / {x['max_accepted_in_1s']}" for x in per)
    )
    print(f"  outbox drained in s: {format_rounds([x['drain_s'] for x in per])}")
    ok = r["messages_per_s"] >= TARGET_OUT_PER_S and r["too_many_total"] == 0 and r["pair_rate_total"] == 0
    print(
        f"  {'meets' if ok else 'MISSES'} target >= {TARGET_OUT_PER_S:.0f} msg/s (95 % of"
        f" {MAX_PER_SECOND}) with zero 130429 and 131056"
    )


def whatsapp_in(rounds: int | None, conversations: int) -> None:
    from bench.whatsapp_bench import DEFAULT_ROUNDS
    from bench.whatsapp_webhooks import BATCH

    rounds = rounds or DEFAULT_ROUNDS
    r = run_scenario(
        ["bench.whatsapp_bench", "--scenario=in", f"--rounds={rounds}", f"--conversations={conversations}"]
    )
    print(json.dumps(r), file=sys.stderr)
    per = r["per_round"]
    print(
        f"whatsapp inbound: {r['conversations']} conversations ({r['updates']:,} messages, typed text and"
        f" button/list presses) by {r['concurrency']} concurrent clients, medians of {rounds} rounds;"
        " pacing lifted (the fake enforces no limits, the channel's limiter is raised);"
        f" status webhooks {'on' if r['statuses'] else 'off'}"
    )
    print(
        "  durable, one message a webhook (signed POST /webhooks/whatsapp over loopback -> inbox ->"
        f" engine -> outbox -> Graph -> fake): {r['durable_updates_per_s']:,.0f} messages/s processed and"
        f" answered   (rounds: {format_rounds([x['durable_updates_per_s'] for x in per], 0)})"
    )
    print(
        f"    webhook answered in p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms;"
        f" all acknowledged at {r['acknowledged_updates_per_s']:,.0f}/s;"
        f" {per[0]['replies']:,} replies a round; Graph calls a round (single and batched runs):"
        f" {per[0]['graph_calls']}; webhooks resent after a connection error: {sum(x['resent'] for x in per)}"
    )
    print(
        f"  bare route (signature + JSON + 200 on FastAPI/uvicorn): {r['bare_updates_per_s']:,.0f} webhooks/s"
        f"   (rounds: {format_rounds([x['bare_updates_per_s'] for x in per], 0)});"
        f" p50 {r['bare_p50_ms']:.1f} ms, p99 {r['bare_p99_ms']:.1f} ms"
    )
    print(
        f"  durable / bare: {100 * r['share']:.1f} %"
        f"   (rounds: {format_rounds([100 * x['share'] for x in per])} %)"
    )
    print(
        f"  CPU a message, this process: durable {r['cpu_ms']:.2f} ms, bare {r['bare_cpu_ms']:.2f} ms;"
        f" bare / durable {100 * r['cpu_share']:.1f} %"
        f"   (rounds: {format_rounds([100 * x['cpu_share'] for x in per])} %); batched"
        f" {100 * r['batched_cpu_share']:.1f} %"
    )
    print(
        f"  batched ({BATCH} clients a webhook, {r['webhooks_batched']:,} webhooks,"
        f" {r['concurrency'] // BATCH} posters): durable {r['batched_updates_per_s']:,.0f} messages/s"
        f"   (rounds: {format_rounds([x['batched_updates_per_s'] for x in per], 0)});"
        f" webhook p50 {r['batched_p50_ms']:.1f} ms, p99 {r['batched_p99_ms']:.1f} ms;"
        f" bare {r['bare_batched_updates_per_s']:,.0f} messages/s;"
        f" durable / bare {100 * r['batched_share']:.1f} %"
    )
