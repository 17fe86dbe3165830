# Production: one of the deployments of topology.yaml `environments:`. Its state:
#   terraform -chdir=infra init -backend-config="bucket=PROJECT-tfstate" -backend-config="prefix=pet-cutout"
#   terraform -chdir=infra apply -var-file=project.tfvars -var-file=envs/production.tfvars
# (project.tfvars, ignored by git, is the copy of example.tfvars with the project, billing
# account and names; the environment's file comes last, so its values win).
environment = "production"
