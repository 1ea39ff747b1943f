"""Two ``qa serve`` replicas behind nginx, sharing PostgreSQL and Redis: they act as one service.

One cluster per module (tests/cluster.py): the index is built once, the replicas load the real
model. The replica-kill test runs last, since it leaves one replica.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.cluster import Cluster, nginx_binary, start_cluster
from tests.conftest import ARTICLE
from tests.databases import postgres_unreachable, redis_unreachable
from tests.slack_standin import BOT_USER, SlackStandIn, event_body, mention, post_to_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVER_KEY = "sk_cluster_test_key"
ADMIN_KEY = "ak_cluster_admin_key"
WIDGET_KEY = "pk_cluster_widget_key"
SITE = "https://news.example.org"
WIDGET_LIMIT = 5
SLACK_TOKEN = "xoxb-cluster-test"
SLACK_SECRET = "cluster-signing-secret"
AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}
QUESTIONS = ["Who is Chun In-bum?", "Where did Kim Jong-un travel?", "What did Putin show Kim?"]


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn(SLACK_TOKEN)
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, slack: SlackStandIn) -> Iterator[Cluster]:
    for reason in (postgres_unreachable(), redis_unreachable()):
        if reason:
            pytest.skip(reason)
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; .ci/run does)")
    root = tmp_path_factory.mktemp("cluster")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / ARTICLE.name).write_text(ARTICLE.read_text())
    env = {
        "QA_API_KEYS": SERVER_KEY,
        "QA_ADMIN_KEYS": ADMIN_KEY,
        "QA_SECURITY__WIDGET_KEYS": json.dumps([{"key": WIDGET_KEY, "origins": [SITE]}]),
        "QA_SECURITY__WIDGET_RATE_LIMIT": f"{WIDGET_LIMIT}/minute",
        "QA_SLACK__BOT_TOKEN": SLACK_TOKEN,
        "QA_SLACK__SIGNING_SECRET": SLACK_SECRET,
        "QA_SLACK__API_BASE_URL": slack.api_url,
    }
    with start_cluster(root / "run", corpus, replicas=2, env=env) as running:
        yield running


def chat(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat", json=body, headers=headers or AUTH, timeout=60)


def test_a_conversation_continues_on_the_other_replica(cluster: Cluster) -> None:
    first = chat(cluster.url, {"message": "Who is Chun In-bum?"})
    assert first.status_code == 200
    started_on = first.headers["X-Upstream"]
    question = {
        "message": "What did he say about the triad?",
        "conversation_id": first.json()["conversation_id"],
    }
    # nginx alternates between the replicas: ask until the other one takes the follow-up.
    for _ in range(4):
        follow = chat(cluster.url, question)
        assert follow.status_code == 200
        if follow.headers["X-Upstream"] != started_on:
            break
    assert follow.headers["X-Upstream"] != started_on, "nginx never sent the follow-up elsewhere"
    # The other replica answered from the stored history: as if the client had sent it itself.
    turns = [
        {"role": "user", "content": "Who is Chun In-bum?"},
        {"role": "assistant", "content": first.json()["answer"]},
    ]
    explicit = chat(cluster.replicas[0].url, {"message": question["message"], "history": turns}).json()
    alone = chat(cluster.replicas[0].url, {"message": question["message"]}).json()
    quotes = [c["quote"] for c in follow.json()["citations"]]
    assert quotes == [c["quote"] for c in explicit["citations"]]
    assert quotes != [c["quote"] for c in alone["citations"]]  # the history made the difference
    # Either replica reads the whole conversation back, for its owner and for an admin.
    for replica in cluster.replicas:
        for key in (SERVER_KEY, ADMIN_KEY):
            stored = httpx.get(
                f"{replica.url}/v1/conversations/{question['conversation_id']}",
                headers={"Authorization": f"Bearer {key}"},
            )
            assert stored.status_code == 200 and len(stored.json()["messages"]) >= 2


def test_a_rate_limit_holds_across_both_replicas(cluster: Cluster) -> None:
    page = {"Authorization": f"Bearer {WIDGET_KEY}", "Origin": SITE}
    responses = [
        chat(cluster.url, {"message": "Where did Kim Jong-un travel?"}, page) for _ in range(WIDGET_LIMIT + 1)
    ]
    upstreams = {r.headers["X-Upstream"] for r in responses}
    assert upstreams == {r.address for r in cluster.replicas}  # both replicas took calls
    assert [r.status_code for r in responses] == [200] * WIDGET_LIMIT + [429]
    limited = responses[-1]
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    # Whichever replica takes the next call, it is over the limit too.
    for replica in cluster.replicas:
        assert chat(replica.url, {"message": "Where did Kim Jong-un travel?"}, page).status_code == 429


def test_a_slack_retry_to_the_other_replica_is_answered_once(cluster: Cluster, slack: SlackStandIn) -> None:
    asked = slack.add_message("C0CLUSTER", "U0ASKER", f"<@{BOT_USER}> Where did Kim Jong-un travel?")
    body = event_body(mention("C0CLUSTER", asked), "Ev0CLUSTERRETRY")
    first, second = cluster.replicas
    assert post_to_app(first.url, SLACK_SECRET, body).status_code == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post_to_app(second.url, SLACK_SECRET, body, headers=retry).status_code == 200
    # A later question to the second replica is a barrier: once it is answered, so would a duplicate be.
    barrier = slack.add_message("C0BARRIER", "U0ASKER", f"<@{BOT_USER}> What did Putin show Kim?")
    assert (
        post_to_app(
            second.url, SLACK_SECRET, event_body(mention("C0BARRIER", barrier), "Ev0BARRIER")
        ).status_code
        == 200
    )

    def posted(channel: str) -> list[dict[str, Any]]:
        return [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == channel]

    slack.wait_for(lambda: posted("C0CLUSTER") and posted("C0BARRIER"), timeout=120)
    time.sleep(1)  # nothing else is in flight, but give a stray duplicate every chance to show
    assert len(posted("C0CLUSTER")) == 1


def test_killing_a_replica_under_load_loses_nothing_stored(cluster: Cluster) -> None:
    """SIGKILL one replica while clients ask through nginx; run last (the replica stays dead)."""
    victim, survivor = cluster.replicas
    workers, per_worker = 6, 12
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    kill_after = workers * per_worker // 3
    killed = threading.Event()

    def client(number: int) -> None:
        conversation: str | None = None
        with httpx.Client(base_url=cluster.url, headers=AUTH, timeout=60) as http:
            for turn in range(per_worker):
                message = QUESTIONS[(number + turn) % len(QUESTIONS)]
                body: dict[str, Any] = {"message": message}
                if conversation:
                    body["conversation_id"] = conversation  # continued on whichever replica
                row: dict[str, Any] = {"started_after_kill": killed.is_set(), "json": None, "upstream": ""}
                try:
                    response = http.post("/v1/chat", json=body)
                    row.update(status=response.status_code, upstream=response.headers.get("X-Upstream", ""))
                    if response.status_code == 200:
                        row["json"] = response.json()
                        conversation = row["json"]["conversation_id"]
                except httpx.HTTPError as exc:
                    row.update(status=0, error=repr(exc))
                with lock:
                    results.append(row)
                    done = len(results)
                if done == kill_after and not killed.is_set():
                    victim.kill()
                    killed.set()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert killed.is_set() and not victim.alive() and survivor.alive()
    assert len(results) == workers * per_worker

    failed = [r for r in results if r["status"] != 200]
    print(f"\nreplica killed after {kill_after} of {len(results)} requests: {len(failed)} failed")
    # Errors only for requests the killed replica was answering: at most one per client.
    assert len(failed) <= workers
    # Each is nginx's 502 naming the victim, or, for an answer the victim had started to send
    # (nginx passes answers on unbuffered, for SSE), the connection cut mid-response: all of
    # them sent before the kill.
    assert all(
        not r["started_after_kill"]
        and ((r["status"] == 502 and r["upstream"] == victim.address) or r["status"] == 0)
        for r in failed
    ), failed
    # The survivor keeps answering: every request sent after the kill got an answer.
    late = [r for r in results if r["started_after_kill"]]
    assert late and all(r["status"] == 200 and r["upstream"].endswith(survivor.address) for r in late)
    assert chat(cluster.url, {"message": "What did Putin show Kim?"}).status_code == 200

    # Nothing stored is lost: every answer a client received is in the database.
    answered = {r["json"]["message_id"] for r in results if r["status"] == 200}
    stored = asyncio.run(_message_ids(cluster.database_url))
    assert answered <= stored, answered - stored
    served_by_victim = [r for r in results if r["status"] == 200 and r["upstream"] == victim.address]
    assert served_by_victim  # the victim really took part before it died


async def _message_ids(database_url: str) -> set[str]:
    connection = await asyncpg.connect(database_url)
    try:
        return {row["id"] for row in await connection.fetch("SELECT id FROM messages")}
    finally:
        await connection.close()
