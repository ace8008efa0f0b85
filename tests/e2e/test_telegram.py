"""Telegram through `optibot run`: the real service process, the real aiogram client inside it,
and the fake Bot API server in this test, in polling and in webhook mode."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import free_port, service_env, service_process, wait_until_healthy
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.integration.test_telegram import SECRET, Client, shipment_with_prescription


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_client_reaches_a_case_through_optibot_run(
    database_url: str, tmp_path: Path, mode: str
) -> None:
    port = free_port()
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_MODE": mode,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    async with FakeTelegram() as fake:
        env["TELEGRAM_API_URL"] = fake.base_url
        with service_process(database_url, tmp_path, port=port, env=env, wait=False) as (base, process):
            # This event loop serves the fake while the service starts: wait from a thread.
            await asyncio.to_thread(wait_until_healthy, base, process, tmp_path / "server.log")
            if mode == "webhook":
                await fake.wait_for(lambda: fake.webhook is not None, 20)
                assert fake.webhook is not None
                assert fake.webhook["url"] == f"{base}/webhooks/telegram"
            reference = await shipment_with_prescription(fake, Client(fake))
            listed = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "bot.cli", "cases", "list", "--json"],
                cwd=tmp_path,
                env=service_env(database_url, tmp_path / "data"),
                capture_output=True,
                text=True,
                check=True,
            )
    (case,) = json.loads(listed.stdout)
    assert case["reference"] == reference
    assert (case["need"], case["mode"], case["postal_code"]) == ("unsuitable", "shipment", "20000")
    if mode == "webhook":
        assert all(status == 200 for _, status in fake.webhook_attempts)
    assert fake.too_many == 0
