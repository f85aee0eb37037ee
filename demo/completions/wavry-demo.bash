# bash completion for wavry-demo
complete -W "--version --help" wavry-demo
