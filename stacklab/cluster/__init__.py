"""Docker side of the kit: images, a local multi-node Swarm, stack deploys, Ray jobs."""
