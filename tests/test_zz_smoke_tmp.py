import json
from tests.query_data import fill
from tests.service_harness import running_service
from blueplane_query import api

def test_smoke(redis_client):
    fill(redis_client)
    with running_service() as s:
        for ep in api.ENDPOINTS:
            path = "/api/v1" + ep.path.replace("{session_id}", "11111111")
            st, h, body = s.request("GET", path)
            print(path, st, body[:300])
            if st == 200 and not ep.download:
                data = json.loads(body)
                print("   keys", sorted(data), "expected", sorted(ep.keys))
