/*
 * rpc_pool: the libuv loop behind rpc_call_defer(). gRPC completion threads must never block, so
 * blocking handler work is handed to libuv's thread pool. uv_queue_work() may only be called on
 * the loop's own thread, hence the loop runs in a thread of its own and other threads hand jobs to
 * it through a locked list plus uv_async_send(). after() callbacks run on the loop thread.
 */
#include "common/rpc_internal.h"

#include <errno.h>

static void on_work(uv_work_t *req)
{
    rpc_job_t *job = RPC_CONTAINER_OF(req, rpc_job_t, req);
    job->work(job);
}

static void on_after(uv_work_t *req, int status)
{
    rpc_job_t *job = RPC_CONTAINER_OF(req, rpc_job_t, req);
    (void)status; /* jobs are never cancelled */
    job->after(job);
}

static void on_wake(uv_async_t *handle)
{
    rpc_pool_t *pool = handle->data;
    pthread_mutex_lock(&pool->mu);
    rpc_job_t *jobs = pool->head;
    pool->head = pool->tail = NULL;
    bool stop = pool->stop;
    pthread_mutex_unlock(&pool->mu);

    while (jobs) {
        rpc_job_t *next = jobs->next;
        jobs->next = NULL;
        /* Fails only for a NULL work callback, which on_work never is. */
        uv_queue_work(&pool->loop, &jobs->req, on_work, on_after);
        jobs = next;
    }
    /* uv_run() returns once the handle is closed and the queued work has finished. */
    if (stop && !uv_is_closing((uv_handle_t *)&pool->wake))
        uv_close((uv_handle_t *)&pool->wake, NULL);
}

static void run_loop(void *arg)
{
    rpc_pool_t *pool = arg;
    uv_run(&pool->loop, UV_RUN_DEFAULT);
}

int rpc_pool_start(rpc_pool_t *pool)
{
    int rc = uv_loop_init(&pool->loop);
    if (rc < 0)
        return rc; /* libuv errors are negative errno values on Unix */
    rc = uv_async_init(&pool->loop, &pool->wake, on_wake);
    if (rc < 0)
        goto fail_loop;
    pool->wake.data = pool;
    rc = pthread_mutex_init(&pool->mu, NULL);
    if (rc != 0) {
        rc = -rc;
        goto fail_async;
    }
    pool->head = pool->tail = NULL;
    pool->stop = false;
    rc = uv_thread_create(&pool->thread, run_loop, pool);
    if (rc < 0)
        goto fail_mutex;
    pool->running = true;
    return 0;

fail_mutex:
    pthread_mutex_destroy(&pool->mu);
fail_async:
    uv_close((uv_handle_t *)&pool->wake, NULL);
    uv_run(&pool->loop, UV_RUN_DEFAULT);
fail_loop:
    uv_loop_close(&pool->loop);
    return rc;
}

void rpc_pool_submit(rpc_pool_t *pool, rpc_job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&pool->mu);
    if (pool->tail)
        pool->tail->next = job;
    else
        pool->head = job;
    pool->tail = job;
    pthread_mutex_unlock(&pool->mu);
    uv_async_send(&pool->wake);
}

void rpc_pool_stop(rpc_pool_t *pool)
{
    if (!pool->running)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = true;
    pthread_mutex_unlock(&pool->mu);
    uv_async_send(&pool->wake);
    uv_thread_join(&pool->thread);
    uv_loop_close(&pool->loop);
    pthread_mutex_destroy(&pool->mu);
    pool->running = false;
}
