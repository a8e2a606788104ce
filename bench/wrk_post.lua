-- wrk's requests for `deno task bench` (bench/compare_http.ts): the same POST that
-- `sockecho bench --http -s 64` sends, a 64-byte body in serve --http's raw format.
wrk.method = "POST"
wrk.body = string.rep("x", 64)
wrk.headers["Accept"] = "application/octet-stream"
wrk.headers["Content-Type"] = "application/octet-stream"
