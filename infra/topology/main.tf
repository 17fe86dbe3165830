# The pipeline's topology, read from the one declaration the local stack applies
# (../../topology.yaml). `${VAR:-default}` is filled exactly as
# local_stack.topology.load() fills it: from var.env, else the default. No provider:
# tests evaluate this module offline and compare it with the Python loader.

variable "env" {
  description = "Values for the $${VAR} placeholders; a missing key takes the file's default."
  type        = map(string)
  default     = {}
}

variable "file" {
  description = "The topology declaration."
  type        = string
  default     = null
}

locals {
  raw = file(coalesce(var.file, "${path.module}/../../topology.yaml"))
  # ${NAME:-default} -> ${lookup(env, "NAME", "default")}, then rendered as a template.
  template = replace(local.raw, "/\\$\\{([A-Z0-9_]+)(?::-([^}]*))?\\}/", "$${lookup(env, \"$1\", \"$2\")}")
  topology = yamldecode(templatestring(local.template, { env = var.env }))
}

output "topology" {
  description = "The whole declaration, placeholders filled."
  value       = local.topology
}
