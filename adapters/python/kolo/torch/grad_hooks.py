"""register_grad_hook: run a function right after a parameter's gradient was accumulated into
p.grad, on every torch version Kolo supports (DistributedOptimizer and ShardedOptimizer start
their reductions from it while backward runs)."""


def register_grad_hook(p, hook, keep_alive):
    """Calls hook(*unused) after each accumulation into p.grad. Before torch 2.1 the hook goes on
    the parameter's AccumulateGrad node, which must stay alive: it is appended to keep_alive."""
    if hasattr(p, "register_post_accumulate_grad_hook"):
        p.register_post_accumulate_grad_hook(hook)
        return
    accumulator = p.expand_as(p).grad_fn.next_functions[0][0]
    accumulator.register_hook(hook)
    keep_alive.append(accumulator)
