"""Stand-in for ``imageio`` (see README.md): the reference imports it for GIFs that training never writes."""
