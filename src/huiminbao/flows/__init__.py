"""Work that spans domains in one transaction: each flow reads or writes more than one domain package."""
