"""Local emulators of the external calendar systems calbridge talks to."""
