"""Policy news: parse feeds, deduplicate, tag minerals and countries, classify, store.

Also turns stored items into policy pressure (an input of the risk score) and into immediate
``policy_event`` signals. May import ``monitor.core``, ``monitor.config`` and ``monitor.store``.
"""
