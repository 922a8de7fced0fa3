"""The names a distributed optimizer gives its parameters: they name its collectives, so they
must be unique and the same on every rank."""


def parameter_names(all_params, named_parameters):
    """{parameter: name} from `named_parameters` (every optimizer parameter must be in it, each
    name once), or positional names when it is None."""
    if named_parameters is None:
        return {p: "noname.%d" % i for i, p in enumerate(all_params)}
    named = list(named_parameters)
    names = [n for n, _ in named]
    if len(set(names)) != len(names):
        raise ValueError("named_parameters has duplicate names; each parameter needs "
                         "a unique name, the same on every rank")
    by_param = {p: n for n, p in named}
    unnamed = [p for p in all_params if p not in by_param]
    if unnamed:
        raise ValueError("named_parameters was given but %d of the optimizer's "
                         "parameters are not in it" % len(unnamed))
    return by_param
