"""The portal's use cases: a workspace's settings, sender connections, templates, conversations
and funnel stats. Every one is scoped to one workspace (account id); another workspace's things
are not found."""
