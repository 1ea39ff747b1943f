"""Two ``qa serve`` replicas behind nginx sharing PostgreSQL, Redis and a Milvus Lite server
(tests/cluster.py): a document uploaded through one replica is cited by the other, and once
removed, by neither. Replicas keep no local corpus beyond the start-up one: Milvus holds it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.cluster import Cluster, nginx_binary, start_cluster
from tests.conftest import ARTICLE
from tests.databases import postgres_unreachable, redis_unreachable
from tests.milvus_server import new_prefix
from tests.test_documents_api import LIGHTHOUSE, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN_KEY = "ak_cluster_documents_key"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
QUESTION = "What colour was the Zorblax lighthouse on Kelvin Island painted?"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, milvus_uri: str) -> Iterator[Cluster]:
    for reason in (postgres_unreachable(), redis_unreachable()):
        if reason:
            pytest.skip(reason)
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; .ci/run does)")
    root = tmp_path_factory.mktemp("cluster-documents")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / ARTICLE.name).write_text(ARTICLE.read_text())
    env = {
        "QA_ADMIN_KEYS": ADMIN_KEY,
        "QA_INDEX__BACKEND": "milvus",
        "QA_MILVUS__URI": milvus_uri,
        "QA_MILVUS__COLLECTION_PREFIX": new_prefix(),
        "QA_INDEX__RELOAD_INTERVAL_S": "0.5",
    }
    with start_cluster(root, corpus, replicas=2, env=env) as running:  # `qa index build` fills Milvus
        yield running


def cited(url: str) -> set[str]:
    response = httpx.post(f"{url}/v1/chat", json={"message": QUESTION}, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    return {c["doc_id"] for c in response.json()["citations"]}


def test_an_upload_through_one_replica_is_cited_by_the_other_and_a_removal_by_none(cluster: Cluster) -> None:
    first, second = (replica.url for replica in cluster.replicas)
    assert "lighthouse" not in cited(second)
    files = {"file": ("lighthouse.txt", LIGHTHOUSE.encode())}
    uploaded = httpx.post(f"{first}/v1/documents", files=files, headers=AUTH, timeout=120)
    assert uploaded.status_code == 201, uploaded.text
    assert wait_until(lambda: cited(second) == {"lighthouse"})
    assert cited(cluster.url) == {"lighthouse"} and cited(cluster.url) == {"lighthouse"}  # via nginx

    removed = httpx.delete(f"{cluster.url}/v1/documents/lighthouse", headers=AUTH, timeout=120)
    assert removed.status_code == 200, removed.text
    for url in (first, second):
        assert wait_until(lambda url=url: "lighthouse" not in cited(url))
        assert wait_until(
            lambda url=url: httpx.get(f"{url}/v1/documents/lighthouse", headers=AUTH).status_code == 404
        )
