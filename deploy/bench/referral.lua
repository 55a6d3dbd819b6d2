-- wrk script: POST /v1/referrals with a different client each time (so requests do not all
-- queue on one client row), a bearer token from the environment, and per-thread counters.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

local token = os.getenv("PASSERELLE_BENCH_TOKEN")
local needs = { "loneliness", "physical-activity", "food-security", "housing", "bereavement", "arts-culture" }

function request()
  counter = counter + 1
  local name = string.format("Bench%d-%d-%d", tid, counter, math.random(1, 1000000000))
  local body = string.format([[{"client": {"givenName": "%s", "familyName": "Client", "birthDate": "1970-01-01",
    "contact": {"phone": "+1 613 555 0100"}, "preferredLanguage": "en", "postalCode": "K1A 0B1", "preferredChannel": "sms"},
    "referrer": {"id": "bench-referrer", "role": "physician"}, "site": "bench-site", "needs": ["%s"],
    "supportLevel": "light", "priority": "routine",
    "consent": {"contact": true, "shareWithPartners": false, "evaluationUse": true}}]], name, needs[(counter % #needs) + 1])
  return wrk.format("POST", "/v1/referrals", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors=%d non2xx=%d duration_us=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.duration, latency:percentile(50), latency:percentile(99)))
end
