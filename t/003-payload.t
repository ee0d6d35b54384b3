# The invocation payload: errors before streaming are JSON, worded as
# the reference runtime words them.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: not JSON
--- request
POST /invocations
not json
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"Invalid JSON","details":"Expecting value: line 1 column 1 (char 0)"}



=== TEST 2: empty body
--- request
POST /invocations
--- error_code: 400
--- response_body chomp
{"error":"Invalid JSON","details":"Expecting value: line 1 column 1 (char 0)"}



=== TEST 3: truncated JSON
--- request eval
"POST /invocations\n" . '{"prompt": "hi"'
--- error_code: 400
--- response_body chomp
{"error":"Invalid JSON","details":"Expecting ',' delimiter: line 1 column 16 (char 15)"}



=== TEST 4: extra data on a second line, counted in code points
--- request eval
"POST /invocations\n" . qq{{"prompt":"h\xc3\xa9"}\n{"b":2}}
--- error_code: 400
--- response_body chomp
{"error":"Invalid JSON","details":"Extra data: line 2 column 1 (char 16)"}



=== TEST 5: invalid UTF-8
--- request eval
"POST /invocations\n\x80abc"
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"Invalid encoding","details":"'utf-8' codec can't decode byte 0x80 in position 0: invalid start byte"}



=== TEST 6: a JSON array is not a payload
--- request
POST /invocations
[1]
--- error_code: 400
--- response_body chomp
{"error":"Invalid payload","details":"expected a JSON object with a \"prompt\" that is a string or a list of content blocks"}



=== TEST 7: an object without a prompt
--- request
POST /invocations
{"message": "hi"}
--- error_code: 400
--- response_body chomp
{"error":"Invalid payload","details":"expected a JSON object with a \"prompt\" that is a string or a list of content blocks"}



=== TEST 8: a prompt that is not a string
--- request
POST /invocations
{"prompt": 42}
--- error_code: 400
--- response_body chomp
{"error":"Invalid payload","details":"expected a JSON object with a \"prompt\" that is a string or a list of content blocks"}



=== TEST 9: the Content-Type is not checked
--- more_headers
Content-Type: text/plain
--- request eval
AgentCore::Test::invoke('[[deltas texts=["ok"]]]')
--- response_body eval
qq{data: "ok"\n\n}
--- no_error_log
[error]



=== TEST 10: a UTF-8 BOM is skipped
--- request eval
"POST /invocations\n\xef\xbb\xbf" . '{"prompt":"[[deltas texts=[\"bom\"]]]"}'
--- response_body eval
qq{data: "bom"\n\n}
--- no_error_log
[error]



=== TEST 11: a body larger than the buffer is read from its temp file
--- config eval
"client_body_buffer_size 1k;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[deltas texts=["big"]]]' . (" " x 100000))
--- response_body eval
qq{data: "big"\n\n}
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]



=== TEST 12: a chunked request body
--- raw_request eval
"POST /invocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
. "Transfer-Encoding: chunked\r\n\r\n"
. "10\r\n" . '{"prompt":"[[del' . "\r\n"
. "15\r\n" . 'tas texts=[\"c\"]]]"}' . "\r\n0\r\n\r\n"
--- response_body eval
qq{data: "c"\n\n}
--- no_error_log
[error]



=== TEST 13: over client_max_body_size is 413 from nginx
--- config eval
$AgentCore::Test::Config =~ s/agentcore;/agentcore; client_max_body_size 100;/r
--- request eval
AgentCore::Test::invoke("x" x 200)
--- error_code: 413



=== TEST 14: Python's error texts for a property name and an escape
--- request eval
["POST /invocations\n" . q{{"a":1,}},
 "POST /invocations\n" . q{{"a":"\q"}}]
--- error_code eval
[400, 400]
--- response_body eval
['{"error":"Invalid JSON","details":"Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"}',
 '{"error":"Invalid JSON","details":"Invalid \\\\escape: line 1 column 7 (char 6)"}']
