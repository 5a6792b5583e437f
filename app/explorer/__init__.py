"""The web explorer (`synod explorer`): a live page of chain, tasks, queries and slashes; see README."""
