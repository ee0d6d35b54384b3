
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The public tool API of ngx_http_agentcore_module.  Another nginx
 * module gives the agent a tool with one call from its
 * preconfiguration handler:
 *
 *     static ngx_http_agentcore_tool_t  my_tool = {
 *         ngx_string("reverse"),
 *         ngx_string("Reverse a string"),
 *         ngx_string("{\"type\":\"object\",\"properties\":{\"text\":"
 *                    "{\"type\":\"string\"}},\"required\":[\"text\"]}"),
 *         my_tool_handler, NULL
 *     };
 *
 *     ngx_http_agentcore_add_tool(cf, &my_tool);
 *
 * and "agentcore_tools reverse;" enables it where wanted.  A handler
 * reports its result with ngx_http_agentcore_tool_done(), before it
 * returns (NGX_OK) or later (NGX_AGAIN), from any event handler of the
 * worker.  The built-in tools (calculator, weather, get_time,
 * current_time) use this API and nothing else.
 */


#ifndef _NGX_HTTP_AGENTCORE_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>


#define NGX_HTTP_AGENTCORE_API_VERSION  1


typedef struct ngx_http_agentcore_tool_s       ngx_http_agentcore_tool_t;
typedef struct ngx_http_agentcore_tool_call_s  ngx_http_agentcore_tool_call_t;

/*
 * Runs one call.  Returns NGX_OK once ngx_http_agentcore_tool_done()
 * has been called, NGX_AGAIN if it will be called later, or NGX_ERROR
 * (the model then gets an error result).
 */
typedef ngx_int_t (*ngx_http_agentcore_tool_pt)(
    ngx_http_agentcore_tool_call_t *call);


struct ngx_http_agentcore_tool_s {
    ngx_str_t                     name;          /* [a-zA-Z0-9_-]{1,64} */
    ngx_str_t                     description;
    ngx_str_t                     input_schema;  /* JSON Schema text,
                                                    the inputSchema.json
                                                    of the tool spec */
    ngx_http_agentcore_tool_pt    handler;
    void                         *data;          /* the registrant's */
};


struct ngx_http_agentcore_tool_call_s {
    ngx_http_agentcore_tool_t    *tool;
    ngx_http_request_t           *request;       /* the invocation */
    ngx_pool_t                   *pool;          /* lives as long as it */
    json_t                       *input;         /* parsed tool input,
                                                    an object; borrowed */
    ngx_str_t                     tool_use_id;
    void                         *data;          /* the handler's */

    /* private to ngx_http_agentcore_module */
    void                         *invocation;
    ngx_http_request_t           *sr;
    ngx_str_t                     result;
    ngx_buf_t                    *body;
    ngx_uint_t                    index;
    ngx_uint_t                    status;
    unsigned                      done:1;
    unsigned                      error:1;
    unsigned                      too_big:1;
    unsigned                      abandoned:1;   /* timed out: a late
                                                    result is dropped */
};


/*
 * Registers a tool for the whole configuration; call from a module's
 * preconfiguration handler.  The struct must outlive the cycle (static
 * or from cf->pool).  Returns NGX_OK, or NGX_ERROR after logging why
 * (duplicate name, invalid name or schema).
 */
ngx_int_t ngx_http_agentcore_add_tool(ngx_conf_t *cf,
    ngx_http_agentcore_tool_t *tool);

/*
 * Completes a call: status NGX_OK gives a "success" result, anything
 * else an "error" result; text is copied.  Call it once per call.  From
 * a timer or other non-HTTP event, call ngx_http_run_posted_requests()
 * on call->request->connection afterwards, as nginx's own modules do.
 */
void ngx_http_agentcore_tool_done(ngx_http_agentcore_tool_call_t *call,
    ngx_int_t status, ngx_str_t *text);


#endif /* _NGX_HTTP_AGENTCORE_H_INCLUDED_ */
