"""The pipeline on one machine: Google's Pub/Sub and Firestore emulators,
fake-gcs-server, the functions and the GPU service, wired by topology.yaml."""
