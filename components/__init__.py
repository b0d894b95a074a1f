"""tcra.components: ComponentResources that compose providers into TCRA blocks."""
