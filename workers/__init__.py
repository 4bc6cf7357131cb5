"""Dramatiq broker set-up and the actors that talk to the provider."""
