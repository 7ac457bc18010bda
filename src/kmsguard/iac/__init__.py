"""Infrastructure as code: find KMS key policies and grants in CloudFormation templates,
Terraform modules, plan JSON and `.tf.json` files, and judge them with the engine."""
