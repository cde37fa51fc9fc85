"""The HTTP layer: routes, schemas, dependencies, error responses. Routes only translate HTTP to calls
into the service layer (``service.faces`` and, later, matching and policy) and back."""
