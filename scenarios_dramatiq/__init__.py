"""The dramatiq stack: actor.send from producer threads, a real dramatiq worker."""
