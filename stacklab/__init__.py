"""stacklab: reproduce, measure and explain distributed ML on a Docker Swarm."""

__version__ = "0.1.0"
