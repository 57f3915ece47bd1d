"""One module per kind of object the pipeline owns. Each is a room with the same furniture:

  plan(d, obs) -> [Step]                         the steps that make one desired service true (per-service kinds)
  plan_removal(service, obs) -> [Step]           the steps that offboard a service it holds objects of
  plan_pass(plan, obs, settings, region) -> [Step]   the steps of the whole pass (pass kinds)
  APPLY = {action: function(step, ctx)}          one function per action it plans

`plan.py` and `apply.py` list the kinds explicitly; a new kind is one new module and one line in each.
"""
