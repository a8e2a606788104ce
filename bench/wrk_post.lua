-- wrk's requests for `deno task bench` (bench/compare_http_loaders.ts): the POST that
-- `sockecho bench --http -s 64` sends, 64 bytes in serve --http's raw format. The body is
-- bench's own pattern (byte i is 7i mod 256), not text: serve --http reads a body that is
-- not UTF-8 in another way, at another cost (measured: 64 "x" bytes went 30 % faster).
local bytes = {}
for i = 0, 63 do bytes[#bytes + 1] = string.char((i * 7) % 256) end
wrk.method = "POST"
wrk.body = table.concat(bytes)
wrk.headers["Accept"] = "application/octet-stream"
wrk.headers["Content-Type"] = "application/octet-stream"
